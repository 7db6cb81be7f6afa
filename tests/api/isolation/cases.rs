//! One case per root field that takes an `ID` or writes: the document, the positions it
//! feeds, and how to make a valid call on the caller's own fresh rows.

use std::sync::Arc;

use serde_json::json;
use uuid::Uuid;

use super::org::{Audit, Case, Kind, NONE, Op, Org, Setup};
use crate::helpers::PASSWORD;

pub(crate) fn cases() -> Vec<Case> {
    use Kind::*;
    use Op::*;
    let q = |field, doc, ids, setup| Case {
        field,
        op: Query,
        doc,
        ids,
        setup,
        audit: Audit::Read,
    };
    let m = |field, doc, ids, setup| Case {
        field,
        op: Mutation,
        doc,
        ids,
        setup,
        audit: Audit::Once,
    };
    vec![
        // ---- accounts, organization, members, audit trail
        Case {
            audit: Audit::Exempt(
                "writes its one row in the organization it creates: audit.rs checks it",
            ),
            ..m(
                "register",
                "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
                NONE,
                setup!(|_o| {
                    let d = format!("x{}.test", &Uuid::new_v4().simple().to_string()[..10]);
                    json!({ "i": { "organizationName": "X", "organizationDomain": d, "email": format!("a@{d}"),
                    "password": PASSWORD, "firstName": "A", "lastName": "B" } })
                }),
            )
        },
        m(
            "login",
            "mutation($e: String!, $p: String!) { login(input: { email: $e, password: $p }) { accessToken } }",
            NONE,
            setup!(|o| {
                let s = o.member().await;
                json!({ "e": s.email, "p": PASSWORD })
            }),
        ),
        m(
            "refreshToken",
            "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }",
            NONE,
            setup!(|o| {
                let s = o.member().await;
                json!({ "t": s.refresh })
            }),
        ),
        m(
            "logout",
            "mutation($t: String!) { logout(refreshToken: $t) }",
            NONE,
            setup!(|o| {
                let s = o.member().await;
                json!({ "t": s.refresh })
            }),
        ),
        m(
            "changePassword",
            "mutation($p: String!) { changePassword(currentPassword: $p, newPassword: \"another fine pass\") }",
            NONE,
            setup!(|o| {
                let s = o.member().await;
                json!({ "p": PASSWORD, "__as": s.access })
            }),
        ),
        m(
            "updateMe",
            "mutation { updateMe(input: { bio: \"mine\" }) { id } }",
            NONE,
            setup!(|_o| json!({})),
        ),
        m(
            "updateOrganization",
            "mutation { updateOrganization(input: { name: \"Renamed\" }) { id } }",
            NONE,
            setup!(|_o| json!({})),
        ),
        m(
            "createUser",
            "mutation($e: String!) { createUser(input: { email: $e, password: \"correct horse battery\", firstName: \"N\", lastName: \"M\" }) { id } }",
            NONE,
            setup!(|o| json!({ "e": format!("n-{}@{}", Uuid::new_v4().simple(), o.admin.domain) })),
        ),
        m(
            "updateUser",
            "mutation($id: ID!) { updateUser(id: $id, input: { firstName: \"Renamed\" }) { id } }",
            &[("updateUser.id", "id", User)],
            setup!(|o| json!({ "id": o.member().await.user_id })),
        ),
        m(
            "deleteUser",
            "mutation($id: ID!) { deleteUser(id: $id) { id } }",
            &[("deleteUser.id", "id", User)],
            setup!(|o| json!({ "id": o.member().await.user_id })),
        ),
        m(
            "restoreUser",
            "mutation($id: ID!) { restoreUser(id: $id) { id } }",
            &[("restoreUser.id", "id", User)],
            setup!(|o| {
                let u = o.member().await.user_id;
                o.step("deleteUser", &u).await;
                json!({ "id": u })
            }),
        ),
        q(
            "user",
            "query($id: ID!) { user(id: $id) { id email } }",
            &[("user.id", "id", User)],
            setup!(|o| json!({ "id": o.admin.user_id })),
        ),
        q(
            "auditLogs",
            "query($r: ID, $u: ID) { auditLogs(filter: { recordId: $r, userId: $u }) { totalCount nodes { id } } }",
            &[
                ("auditLogs.filter.recordId", "r", Any),
                ("auditLogs.filter.userId", "u", User),
            ],
            setup!(|o| json!({ "r": o.admin.user_id, "u": o.admin.user_id })),
        ),
        // ---- contacts and interactions
        q(
            "contact",
            "query($id: ID!) { contact(id: $id) { id firstName } }",
            &[("contact.id", "id", Contact)],
            setup!(|o| json!({ "id": o.contact().await })),
        ),
        q(
            "contacts",
            "query($u: ID) { contacts(filter: { createdBy: $u }) { totalCount nodes { id } } }",
            &[("contacts.filter.createdBy", "u", User)],
            setup!(|o| json!({ "u": o.admin.user_id })),
        ),
        m(
            "createContact",
            "mutation { createContact(input: { firstName: \"A\", lastName: \"B\" }) { id } }",
            NONE,
            setup!(|_o| json!({})),
        ),
        m(
            "updateContact",
            "mutation($id: ID!) { updateContact(id: $id, input: { firstName: \"Pwned\" }) { id } }",
            &[("updateContact.id", "id", Contact)],
            setup!(|o| json!({ "id": o.contact().await })),
        ),
        m(
            "deleteContact",
            "mutation($id: ID!) { deleteContact(id: $id) { id } }",
            &[("deleteContact.id", "id", Contact)],
            setup!(|o| json!({ "id": o.contact().await })),
        ),
        m(
            "restoreContact",
            "mutation($id: ID!) { restoreContact(id: $id) { id } }",
            &[("restoreContact.id", "id", Contact)],
            setup!(|o| {
                let c = o.contact().await;
                json!({ "id": o.trashed("deleteContact", &c).await })
            }),
        ),
        m(
            "convertContact",
            "mutation($id: ID!) { convertContact(id: $id, to: PLUG) { id } }",
            &[("convertContact.id", "id", Contact)],
            setup!(|o| json!({ "id": o.contact().await })),
        ),
        m(
            "recalculateLeadScore",
            "mutation($id: ID!) { recalculateLeadScore(id: $id) { id } }",
            &[("recalculateLeadScore.id", "id", Contact)],
            setup!(|o| json!({ "id": o.contact().await })),
        ),
        q(
            "contactInteraction",
            "query($id: ID!) { contactInteraction(id: $id) { id } }",
            &[("contactInteraction.id", "id", Interaction)],
            setup!(|o| {
                let c = o.contact().await;
                json!({ "id": o.interaction(&c).await })
            }),
        ),
        q(
            "contactInteractions",
            "query($c: ID, $u: ID) { contactInteractions(filter: { contactId: $c, userId: $u }) { totalCount nodes { id } } }",
            &[
                ("contactInteractions.filter.contactId", "c", Contact),
                ("contactInteractions.filter.userId", "u", User),
            ],
            setup!(|o| json!({ "c": o.contact().await, "u": o.admin.user_id })),
        ),
        m(
            "createContactInteraction",
            "mutation($c: ID!, $u: ID) { createContactInteraction(input: { contactId: $c, userId: $u, interactionType: CALL, interactionDate: \"2026-01-01T00:00:00Z\" }) { id } }",
            &[
                ("createContactInteraction.input.contactId", "c", Contact),
                ("createContactInteraction.input.userId", "u", User),
            ],
            setup!(|o| json!({ "c": o.contact().await, "u": o.admin.user_id })),
        ),
        m(
            "updateContactInteraction",
            "mutation($id: ID!, $u: ID) { updateContactInteraction(id: $id, input: { userId: $u, subject: \"x\" }) { id } }",
            &[
                ("updateContactInteraction.id", "id", Interaction),
                ("updateContactInteraction.input.userId", "u", User),
            ],
            setup!(|o| {
                let c = o.contact().await;
                json!({ "id": o.interaction(&c).await, "u": o.admin.user_id })
            }),
        ),
        m(
            "deleteContactInteraction",
            "mutation($id: ID!) { deleteContactInteraction(id: $id) { id } }",
            &[("deleteContactInteraction.id", "id", Interaction)],
            setup!(|o| {
                let c = o.contact().await;
                json!({ "id": o.interaction(&c).await })
            }),
        ),
        m(
            "restoreContactInteraction",
            "mutation($id: ID!) { restoreContactInteraction(id: $id) { id } }",
            &[("restoreContactInteraction.id", "id", Interaction)],
            setup!(|o| {
                let c = o.contact().await;
                let i = o.interaction(&c).await;
                json!({ "id": o.trashed("deleteContactInteraction", &i).await })
            }),
        ),
        // ---- events, registrations, agenda
        q(
            "event",
            "query($id: ID!) { event(id: $id) { id title } }",
            &[("event.id", "id", Event)],
            setup!(|o| json!({ "id": o.event().await })),
        ),
        q(
            "events",
            "query($u: ID) { events(filter: { createdBy: $u }) { totalCount nodes { id } } }",
            &[("events.filter.createdBy", "u", User)],
            setup!(|o| json!({ "u": o.admin.user_id })),
        ),
        m(
            "createEvent",
            "mutation { createEvent(input: { title: \"E\", startDate: \"2030-01-01T18:00:00Z\", endDate: \"2030-01-01T21:00:00Z\" }) { id } }",
            NONE,
            setup!(|_o| json!({})),
        ),
        m(
            "updateEvent",
            "mutation($id: ID!) { updateEvent(id: $id, input: { title: \"Pwned\" }) { id } }",
            &[("updateEvent.id", "id", Event)],
            setup!(|o| json!({ "id": o.event().await })),
        ),
        m(
            "deleteEvent",
            "mutation($id: ID!) { deleteEvent(id: $id) { id } }",
            &[("deleteEvent.id", "id", Event)],
            setup!(|o| json!({ "id": o.event().await })),
        ),
        m(
            "restoreEvent",
            "mutation($id: ID!) { restoreEvent(id: $id) { id } }",
            &[("restoreEvent.id", "id", Event)],
            setup!(|o| {
                let e = o.event().await;
                json!({ "id": o.trashed("deleteEvent", &e).await })
            }),
        ),
        m(
            "publishEvent",
            "mutation($id: ID!) { publishEvent(id: $id) { id } }",
            &[("publishEvent.id", "id", Event)],
            setup!(|o| json!({ "id": o.draft_event().await })),
        ),
        m(
            "startEvent",
            "mutation($id: ID!) { startEvent(id: $id) { id } }",
            &[("startEvent.id", "id", Event)],
            setup!(|o| json!({ "id": o.event().await })),
        ),
        m(
            "completeEvent",
            "mutation($id: ID!) { completeEvent(id: $id) { id } }",
            &[("completeEvent.id", "id", Event)],
            setup!(|o| {
                let e = o.event().await;
                o.step("startEvent", &e).await;
                json!({ "id": e })
            }),
        ),
        m(
            "cancelEvent",
            "mutation($id: ID!) { cancelEvent(id: $id) { id } }",
            &[("cancelEvent.id", "id", Event)],
            setup!(|o| json!({ "id": o.event().await })),
        ),
        m(
            "registerForEvent",
            "mutation($e: ID!, $u: ID) { registerForEvent(eventId: $e, userId: $u) { id } }",
            &[
                ("registerForEvent.eventId", "e", Event),
                ("registerForEvent.userId", "u", User),
            ],
            setup!(|o| json!({ "e": o.event().await, "u": o.member().await.user_id })),
        ),
        m(
            "cancelRegistration",
            "mutation($e: ID!, $u: ID) { cancelRegistration(eventId: $e, userId: $u) { id } }",
            &[
                ("cancelRegistration.eventId", "e", Event),
                ("cancelRegistration.userId", "u", User),
            ],
            setup!(|o| {
                let e = o.event().await;
                let u = o.member().await.user_id;
                o.registration(&e, &u).await;
                json!({ "e": e, "u": u })
            }),
        ),
        m(
            "checkInAttendee",
            "mutation($e: ID!, $u: ID!) { checkInAttendee(eventId: $e, userId: $u) { id } }",
            &[
                ("checkInAttendee.eventId", "e", Event),
                ("checkInAttendee.userId", "u", User),
            ],
            setup!(|o| {
                let e = o.event().await;
                let u = o.member().await.user_id;
                o.registration(&e, &u).await;
                json!({ "e": e, "u": u })
            }),
        ),
        m(
            "checkOutAttendee",
            "mutation($e: ID!, $u: ID!) { checkOutAttendee(eventId: $e, userId: $u) { id } }",
            &[
                ("checkOutAttendee.eventId", "e", Event),
                ("checkOutAttendee.userId", "u", User),
            ],
            setup!(|o| {
                let e = o.event().await;
                let u = o.member().await.user_id;
                o.registration(&e, &u).await;
                o.ok("mutation($e: ID!, $u: ID!) { checkInAttendee(eventId: $e, userId: $u) { id } }", json!({ "e": e, "u": u })).await;
                json!({ "e": e, "u": u })
            }),
        ),
        m(
            "updateAttendee",
            "mutation($id: ID!) { updateAttendee(id: $id, input: { notes: \"x\" }) { id } }",
            &[("updateAttendee.id", "id", Registration)],
            setup!(|o| {
                let e = o.event().await;
                let u = o.member().await.user_id;
                json!({ "id": o.registration(&e, &u).await })
            }),
        ),
        m(
            "markNoShows",
            "mutation($e: ID!) { markNoShows(eventId: $e) }",
            &[("markNoShows.eventId", "e", Event)],
            setup!(|o| {
                let e = o.event().await;
                o.step("startEvent", &e).await;
                o.step("completeEvent", &e).await;
                json!({ "e": e })
            }),
        ),
        q(
            "agendaItem",
            "query($id: ID!) { agendaItem(id: $id) { id title } }",
            &[("agendaItem.id", "id", AgendaItem)],
            setup!(|o| {
                let e = o.event().await;
                json!({ "id": o.agenda_item(&e).await })
            }),
        ),
        m(
            "createAgendaItem",
            "mutation($e: ID!, $s: ID) { createAgendaItem(input: { eventId: $e, speakerId: $s, title: \"x\", startTime: \"2030-01-01T18:00:00Z\", endTime: \"2030-01-01T19:00:00Z\" }) { id } }",
            &[
                ("createAgendaItem.input.eventId", "e", Event),
                ("createAgendaItem.input.speakerId", "s", User),
            ],
            setup!(|o| json!({ "e": o.event().await, "s": o.admin.user_id })),
        ),
        m(
            "updateAgendaItem",
            "mutation($id: ID!, $s: ID) { updateAgendaItem(id: $id, input: { speakerId: $s, title: \"Pwned\" }) { id } }",
            &[
                ("updateAgendaItem.id", "id", AgendaItem),
                ("updateAgendaItem.input.speakerId", "s", User),
            ],
            setup!(|o| {
                let e = o.event().await;
                json!({ "id": o.agenda_item(&e).await, "s": o.admin.user_id })
            }),
        ),
        m(
            "deleteAgendaItem",
            "mutation($id: ID!) { deleteAgendaItem(id: $id) { id } }",
            &[("deleteAgendaItem.id", "id", AgendaItem)],
            setup!(|o| {
                let e = o.event().await;
                json!({ "id": o.agenda_item(&e).await })
            }),
        ),
        m(
            "restoreAgendaItem",
            "mutation($id: ID!) { restoreAgendaItem(id: $id) { id } }",
            &[("restoreAgendaItem.id", "id", AgendaItem)],
            setup!(|o| {
                let e = o.event().await;
                let i = o.agenda_item(&e).await;
                json!({ "id": o.trashed("deleteAgendaItem", &i).await })
            }),
        ),
        m(
            "reorderAgenda",
            "mutation($e: ID!, $ids: [ID!]!) { reorderAgenda(eventId: $e, ids: $ids) { id } }",
            &[
                ("reorderAgenda.eventId", "e", Event),
                ("reorderAgenda.ids", "ids", AgendaItem),
            ],
            setup!(|o| {
                let e = o.event().await;
                let i = o.agenda_item(&e).await;
                json!({ "e": e, "ids": [i] })
            }),
        ),
        Case {
            field: "eventAttendeeChanged",
            op: Subscription,
            audit: Audit::Read,
            doc: "subscription($e: ID!) { eventAttendeeChanged(eventId: $e) { kind } }",
            ids: &[("eventAttendeeChanged.eventId", "e", Event)],
            setup: setup!(|o| json!({ "e": o.event().await })),
        },
        // ---- expenses
        q(
            "expense",
            "query($id: ID!) { expense(id: $id) { id title status approvals { approver { id } } } }",
            &[("expense.id", "id", Expense)],
            setup!(|o| json!({ "id": o.expense().await })),
        ),
        q(
            "expenses",
            "query($e: ID, $u: ID) { expenses(filter: { eventId: $e, createdBy: $u }) { totalCount nodes { id } } }",
            &[
                ("expenses.filter.eventId", "e", Event),
                ("expenses.filter.createdBy", "u", User),
            ],
            setup!(|o| json!({ "e": o.event().await, "u": o.admin.user_id })),
        ),
        q(
            "expenseSummary",
            "query($e: ID, $u: ID) { expenseSummary(filter: { eventId: $e, createdBy: $u }) { total { currency amount count } } }",
            &[
                ("expenseSummary.filter.eventId", "e", Event),
                ("expenseSummary.filter.createdBy", "u", User),
            ],
            setup!(|o| json!({ "e": o.event().await, "u": o.admin.user_id })),
        ),
        m(
            "createExpense",
            "mutation($e: ID, $r: ID) { createExpense(input: { eventId: $e, receiptMediaId: $r, title: \"X\", amount: \"1.00\", expenseDate: \"2026-11-01\" }) { id } }",
            &[
                ("createExpense.input.eventId", "e", Event),
                ("createExpense.input.receiptMediaId", "r", Media),
            ],
            setup!(|o| json!({ "e": o.event().await, "r": o.media().await })),
        ),
        m(
            "updateExpense",
            "mutation($id: ID!, $e: ID, $r: ID) { updateExpense(id: $id, input: { eventId: $e, receiptMediaId: $r, title: \"Pwned\" }) { id } }",
            &[
                ("updateExpense.id", "id", Expense),
                ("updateExpense.input.eventId", "e", Event),
                ("updateExpense.input.receiptMediaId", "r", Media),
            ],
            setup!(
                |o| json!({ "id": o.expense().await, "e": o.event().await, "r": o.media().await })
            ),
        ),
        m(
            "deleteExpense",
            "mutation($id: ID!) { deleteExpense(id: $id) { id } }",
            &[("deleteExpense.id", "id", Expense)],
            setup!(|o| json!({ "id": o.expense().await })),
        ),
        m(
            "restoreExpense",
            "mutation($id: ID!) { restoreExpense(id: $id) { id } }",
            &[("restoreExpense.id", "id", Expense)],
            setup!(|o| {
                let e = o.expense().await;
                json!({ "id": o.trashed("deleteExpense", &e).await })
            }),
        ),
        m(
            "approveExpense",
            "mutation($id: ID!) { approveExpense(id: $id) { id } }",
            &[("approveExpense.id", "id", Expense)],
            setup!(|o| json!({ "id": o.expense().await })),
        ),
        m(
            "rejectExpense",
            "mutation($id: ID!) { rejectExpense(id: $id, reason: \"No\") { id } }",
            &[("rejectExpense.id", "id", Expense)],
            setup!(|o| json!({ "id": o.expense().await })),
        ),
        m(
            "markExpensePaid",
            "mutation($id: ID!) { markExpensePaid(id: $id, reference: \"R-1\") { id } }",
            &[("markExpensePaid.id", "id", Expense)],
            setup!(|o| json!({ "id": o.approved_expense().await })),
        ),
        // ---- media
        q(
            "mediaItem",
            "query($id: ID!) { mediaItem(id: $id) { id title url } }",
            &[("mediaItem.id", "id", Media)],
            setup!(|o| json!({ "id": o.media().await })),
        ),
        q(
            "media",
            "query($u: ID, $e: ID, $c: ID) { media(filter: { uploadedBy: $u, relatedEventId: $e, relatedContactId: $c }) { totalCount nodes { id } } }",
            &[
                ("media.filter.uploadedBy", "u", User),
                ("media.filter.relatedEventId", "e", Event),
                ("media.filter.relatedContactId", "c", Contact),
            ],
            setup!(
                |o| json!({ "u": o.admin.user_id, "e": o.event().await, "c": o.contact().await })
            ),
        ),
        m(
            "uploadMedia",
            "mutation($file: Upload!, $e: ID, $c: ID) { uploadMedia(file: $file, input: { relatedEventId: $e, relatedContactId: $c }) { id } }",
            &[
                ("uploadMedia.input.relatedEventId", "e", Event),
                ("uploadMedia.input.relatedContactId", "c", Contact),
            ],
            setup!(|o| json!({ "file": null, "e": o.event().await, "c": o.contact().await })),
        ),
        m(
            "updateMedia",
            "mutation($id: ID!, $e: ID, $c: ID) { updateMedia(id: $id, input: { title: \"Pwned\", relatedEventId: $e, relatedContactId: $c }) { id } }",
            &[
                ("updateMedia.id", "id", Media),
                ("updateMedia.input.relatedEventId", "e", Event),
                ("updateMedia.input.relatedContactId", "c", Contact),
            ],
            setup!(
                |o| json!({ "id": o.media().await, "e": o.event().await, "c": o.contact().await })
            ),
        ),
        m(
            "deleteMedia",
            "mutation($id: ID!) { deleteMedia(id: $id) { id } }",
            &[("deleteMedia.id", "id", Media)],
            setup!(|o| json!({ "id": o.media().await })),
        ),
        m(
            "restoreMedia",
            "mutation($id: ID!) { restoreMedia(id: $id) { id } }",
            &[("restoreMedia.id", "id", Media)],
            setup!(|o| {
                let id = o.media().await;
                json!({ "id": o.trashed("deleteMedia", &id).await })
            }),
        ),
        Case {
            audit: Audit::Exempt(
                "a pending upload is nobody's media yet: completeUpload writes its one row",
            ),
            ..m(
                "createUpload",
                "mutation($e: ID, $c: ID) { createUpload(input: { fileName: \"a.txt\", contentType: \"text/plain\", size: 5, relatedEventId: $e, relatedContactId: $c }) { uploadUrl } }",
                &[
                    ("createUpload.input.relatedEventId", "e", Event),
                    ("createUpload.input.relatedContactId", "c", Contact),
                ],
                setup!(|o| json!({ "e": o.event().await, "c": o.contact().await })),
            )
        },
        m(
            "completeUpload",
            "mutation($id: ID!) { completeUpload(mediaId: $id) { id } }",
            &[("completeUpload.mediaId", "id", Media)],
            setup!(|o| json!({ "id": o.pending_upload().await })),
        ),
        q(
            "mediaCollection",
            "query($id: ID!) { mediaCollection(id: $id) { id name items { nodes { id } } } }",
            &[("mediaCollection.id", "id", Collection)],
            setup!(|o| json!({ "id": o.collection().await })),
        ),
        q(
            "mediaCollections",
            "query($u: ID) { mediaCollections(filter: { createdBy: $u }) { totalCount nodes { id } } }",
            &[("mediaCollections.filter.createdBy", "u", User)],
            setup!(|o| json!({ "u": o.admin.user_id })),
        ),
        m(
            "createMediaCollection",
            "mutation { createMediaCollection(input: { name: \"Own\" }) { id } }",
            NONE,
            setup!(|_o| json!({})),
        ),
        m(
            "updateMediaCollection",
            "mutation($id: ID!) { updateMediaCollection(id: $id, input: { name: \"Pwned\" }) { id } }",
            &[("updateMediaCollection.id", "id", Collection)],
            setup!(|o| json!({ "id": o.collection().await })),
        ),
        m(
            "deleteMediaCollection",
            "mutation($id: ID!) { deleteMediaCollection(id: $id) { id } }",
            &[("deleteMediaCollection.id", "id", Collection)],
            setup!(|o| json!({ "id": o.collection().await })),
        ),
        m(
            "restoreMediaCollection",
            "mutation($id: ID!) { restoreMediaCollection(id: $id) { id } }",
            &[("restoreMediaCollection.id", "id", Collection)],
            setup!(|o| {
                let id = o.collection().await;
                json!({ "id": o.trashed("deleteMediaCollection", &id).await })
            }),
        ),
        m(
            "addToCollection",
            "mutation($c: ID!, $m: [ID!]!) { addToCollection(collectionId: $c, mediaIds: $m) { id } }",
            &[
                ("addToCollection.collectionId", "c", Collection),
                ("addToCollection.mediaIds", "m", Media),
            ],
            setup!(|o| json!({ "c": o.collection().await, "m": [o.media().await] })),
        ),
        m(
            "removeFromCollection",
            "mutation($c: ID!, $m: [ID!]!) { removeFromCollection(collectionId: $c, mediaIds: $m) { id } }",
            &[
                ("removeFromCollection.collectionId", "c", Collection),
                ("removeFromCollection.mediaIds", "m", Media),
            ],
            setup!(|o| {
                let c = o.collection().await;
                let m = o.media().await;
                o.ok("mutation($c: ID!, $m: [ID!]!) { addToCollection(collectionId: $c, mediaIds: $m) { id } }",
                    json!({ "c": c, "m": [m] })).await;
                json!({ "c": c, "m": [m] })
            }),
        ),
        m(
            "reorderCollection",
            "mutation($c: ID!, $m: [ID!]!) { reorderCollection(collectionId: $c, mediaIds: $m) { id } }",
            &[
                ("reorderCollection.collectionId", "c", Collection),
                ("reorderCollection.mediaIds", "m", Media),
            ],
            setup!(|o| {
                let c = o.collection().await;
                let m = o.media().await;
                o.ok("mutation($c: ID!, $m: [ID!]!) { addToCollection(collectionId: $c, mediaIds: $m) { id } }",
                    json!({ "c": c, "m": [m] })).await;
                json!({ "c": c, "m": [m] })
            }),
        ),
        // ---- webhooks
        q(
            "webhookDeliveries",
            "query($e: ID!) { webhookDeliveries(endpointId: $e) { nodes { id payload } } }",
            &[("webhookDeliveries.endpointId", "e", WebhookEndpoint)],
            setup!(|o| json!({ "e": o.webhook_endpoint().await })),
        ),
        m(
            "createWebhookEndpoint",
            "mutation { createWebhookEndpoint(input: { url: \"http://93.184.215.14/own\", eventTypes: [\"event.published\"] }) { secret } }",
            NONE,
            setup!(|_o| json!({})),
        ),
        m(
            "updateWebhookEndpoint",
            "mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: { description: \"Pwned\" }) { id } }",
            &[("updateWebhookEndpoint.id", "id", WebhookEndpoint)],
            setup!(|o| json!({ "id": o.webhook_endpoint().await })),
        ),
        m(
            "deleteWebhookEndpoint",
            "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { id } }",
            &[("deleteWebhookEndpoint.id", "id", WebhookEndpoint)],
            setup!(|o| json!({ "id": o.webhook_endpoint().await })),
        ),
        m(
            "rotateWebhookSecret",
            "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }",
            &[("rotateWebhookSecret.id", "id", WebhookEndpoint)],
            setup!(|o| json!({ "id": o.webhook_endpoint().await })),
        ),
        m(
            "redeliverWebhook",
            "mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { id } }",
            &[("redeliverWebhook.deliveryId", "id", WebhookDelivery)],
            setup!(|o| json!({ "id": o.webhook_delivery().await })),
        ),
        // ---- CSV import
        q(
            "importRun",
            "query($id: ID!) { importRun(id: $id) { id status createdBy { id } } }",
            &[("importRun.id", "id", ImportRun)],
            setup!(|o| json!({ "id": o.import_run().await })),
        ),
        Case {
            audit: Audit::Exempt(
                "stages the file and queues the run; its job writes one audit row when the run ends (imports.rs checks it)",
            ),
            ..m(
                "importContacts",
                "mutation($file: Upload!) { importContacts(file: $file) { id } }",
                NONE,
                setup!(|_o| json!({ "file": null })),
            )
        },
        // ---- analytics
        q(
            "analyticsEvents",
            "query($u: ID) { analyticsEvents(filter: { userId: $u }) { totalCount nodes { id } } }",
            &[("analyticsEvents.filter.userId", "u", User)],
            setup!(|o| json!({ "u": o.member().await.user_id })),
        ),
        Case {
            audit: Audit::Exempt("usage events are data, not changes: not audited (analytics.rs)"),
            ..m(
                "trackEvents",
                "mutation { trackEvents(events: [{ eventName: \"own\" }]) }",
                NONE,
                setup!(|_o| json!({})),
            )
        },
        // ---- GDPR
        q(
            "personalDataExport",
            "query($id: ID!) { personalDataExport(id: $id) { id status downloadUrl requestedBy { id } } }",
            &[("personalDataExport.id", "id", PersonalDataExport)],
            setup!(|o| json!({ "id": o.personal_data_export().await })),
        ),
        m(
            "exportPersonalData",
            "mutation($u: ID) { exportPersonalData(userId: $u) { id } }",
            &[("exportPersonalData.userId", "u", User)],
            setup!(|o| json!({ "u": o.member().await.user_id })),
        ),
        m(
            "exportContactData",
            "mutation($c: ID!) { exportContactData(contactId: $c) { id } }",
            &[("exportContactData.contactId", "c", Contact)],
            setup!(|o| json!({ "c": o.contact().await })),
        ),
        m(
            "erasePersonalData",
            "mutation($u: ID!) { erasePersonalData(userId: $u) { id } }",
            &[("erasePersonalData.userId", "u", User)],
            setup!(|o| json!({ "u": o.member().await.user_id })),
        ),
        m(
            "eraseContact",
            "mutation($id: ID!) { eraseContact(id: $id) { id } }",
            &[("eraseContact.id", "id", Contact)],
            setup!(|o| json!({ "id": o.contact().await })),
        ),
        // ---- integrations
        q(
            "integration",
            "query($id: ID!) { integration(id: $id) { id name logs { nodes { id } } } }",
            &[("integration.id", "id", Integration)],
            setup!(|o| json!({ "id": o.integration().await })),
        ),
        m(
            "connectIntegration",
            "mutation { connectIntegration(input: { provider: HUBSPOT, credentials: { accessToken: \"own\" }, settings: { baseUrl: \"http://93.184.215.14\" } }) { id } }",
            NONE,
            setup!(|o| {
                o.integration_off().await;
                json!({})
            }),
        ),
        m(
            "updateIntegration",
            "mutation($id: ID!) { updateIntegration(id: $id, input: { name: \"Pwned\" }) { id } }",
            &[("updateIntegration.id", "id", Integration)],
            setup!(|o| json!({ "id": o.integration().await })),
        ),
        m(
            "disconnectIntegration",
            "mutation($id: ID!) { disconnectIntegration(id: $id) { id } }",
            &[("disconnectIntegration.id", "id", Integration)],
            setup!(|o| json!({ "id": o.integration().await })),
        ),
        m(
            "deleteIntegration",
            "mutation($id: ID!) { deleteIntegration(id: $id) { id } }",
            &[("deleteIntegration.id", "id", Integration)],
            setup!(|o| json!({ "id": o.integration().await })),
        ),
        m(
            "restoreIntegration",
            "mutation($id: ID!) { restoreIntegration(id: $id) { id } }",
            &[("restoreIntegration.id", "id", Integration)],
            setup!(|o| {
                let id = o.integration().await;
                json!({ "id": o.trashed("deleteIntegration", &id).await })
            }),
        ),
        Case {
            audit: Audit::Exempt(
                "writes an audit row only when the provider's answer changes the status",
            ),
            ..m(
                "testIntegration",
                "mutation($id: ID!) { testIntegration(id: $id) { ok } }",
                &[("testIntegration.id", "id", Integration)],
                setup!(|o| json!({ "id": o.integration().await })),
            )
        },
        m(
            "syncIntegration",
            "mutation($id: ID!) { syncIntegration(id: $id) { id } }",
            &[("syncIntegration.id", "id", Integration)],
            setup!(|o| json!({ "id": o.integration().await })),
        ),
        // ---- notifications
        m(
            "markNotificationRead",
            "mutation($id: ID!) { markNotificationRead(id: $id) { id } }",
            &[("markNotificationRead.id", "id", Notification)],
            setup!(|o| json!({ "id": o.notification().await })),
        ),
        m(
            "deleteNotification",
            "mutation($id: ID!) { deleteNotification(id: $id) { id } }",
            &[("deleteNotification.id", "id", Notification)],
            setup!(|o| json!({ "id": o.notification().await })),
        ),
        m(
            "markAllNotificationsRead",
            "mutation { markAllNotificationsRead }",
            NONE,
            setup!(|o| {
                o.notification().await;
                json!({})
            }),
        ),
        m(
            "sendNotification",
            "mutation($ids: [ID!]) { sendNotification(input: { userIds: $ids, title: \"x\", message: \"y\" }) }",
            &[("sendNotification.input.userIds", "ids", User)],
            setup!(|o| json!({ "ids": [o.admin.user_id] })),
        ),
        q(
            "notificationPreferences",
            "{ notificationPreferences { emailEnabled } }",
            NONE,
            setup!(|_o| json!({})),
        ),
        m(
            "updateNotificationPreferences",
            "mutation { updateNotificationPreferences(input: { emailTypes: [REMINDER, INFO] }) { emailEnabled } }",
            NONE,
            setup!(|_o| json!({})),
        ),
        // ---- accounts by e-mail and two-factor sign-in
        m(
            "inviteUser",
            "mutation($e: String!) { inviteUser(input: { email: $e, firstName: \"I\", lastName: \"N\" }) { id } }",
            NONE,
            setup!(|_o| json!({ "e": format!("i-{}@iso.test", Uuid::new_v4().simple()) })),
        ),
        m(
            "resendInvitation",
            "mutation($id: ID!) { resendInvitation(userId: $id) { id } }",
            &[("resendInvitation.userId", "id", User)],
            setup!(|o| json!({ "id": o.invited().await })),
        ),
        m(
            "revokeInvitation",
            "mutation($id: ID!) { revokeInvitation(userId: $id) { id } }",
            &[("revokeInvitation.userId", "id", User)],
            setup!(|o| json!({ "id": o.invited().await })),
        ),
        m(
            "acceptInvitation",
            "mutation($t: String!) { acceptInvitation(token: $t, password: \"correct horse battery\") { accessToken } }",
            NONE,
            setup!(|o| {
                let id = o.invited().await;
                json!({ "t": o.link(&id, plugs::services::account_mail::Purpose::Invitation).await })
            }),
        ),
        m(
            "verifyEmail",
            "mutation($t: String!) { verifyEmail(token: $t) }",
            NONE,
            setup!(|o| {
                let s = o.member().await;
                json!({ "t": o.link(&s.user_id, plugs::services::account_mail::Purpose::Verification).await })
            }),
        ),
        m(
            "resendVerification",
            "mutation { resendVerification }",
            NONE,
            setup!(|o| json!({ "__as": o.member().await.access })),
        ),
        Case {
            audit: Audit::Exempt(
                "only queues a job (the same whether or not the address exists); the job mails links and changes nothing",
            ),
            ..m(
                "requestPasswordReset",
                "mutation($e: String!) { requestPasswordReset(email: $e) }",
                NONE,
                setup!(|o| json!({ "e": o.member().await.email })),
            )
        },
        m(
            "resetPassword",
            "mutation($t: String!) { resetPassword(token: $t, newPassword: \"another fine pass\") }",
            NONE,
            setup!(|o| {
                let s = o.member().await;
                json!({ "t": o.link(&s.user_id, plugs::services::account_mail::Purpose::PasswordReset).await })
            }),
        ),
        q(
            "twoFactor",
            "{ twoFactor { enabled } }",
            NONE,
            setup!(|_o| json!({})),
        ),
        m(
            "enableTwoFactor",
            "mutation { enableTwoFactor { secret } }",
            NONE,
            setup!(|o| json!({ "__as": o.member().await.access })),
        ),
        m(
            "confirmTwoFactor",
            "mutation($c: String!) { confirmTwoFactor(code: $c) { codes } }",
            NONE,
            setup!(|o| {
                let s = o.member().await;
                let setup = o
                    .app
                    .gql_as(
                        &s.access,
                        "mutation { enableTwoFactor { secret } }",
                        json!({}),
                    )
                    .await;
                let secret = setup["data"]["enableTwoFactor"]["secret"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                json!({ "c": crate::two_factor::code(&secret, 0), "__as": s.access })
            }),
        ),
        m(
            "disableTwoFactor",
            "mutation($c: String!) { disableTwoFactor(password: \"correct horse battery\", code: $c) }",
            NONE,
            setup!(|o| {
                let s = o.member().await;
                let (_, codes) = crate::two_factor::turn_on(&o.app, &s).await;
                json!({ "c": codes[0], "__as": s.access })
            }),
        ),
        m(
            "regenerateRecoveryCodes",
            "mutation($c: String!) { regenerateRecoveryCodes(password: \"correct horse battery\", code: $c) { codes } }",
            NONE,
            setup!(|o| {
                let s = o.member().await;
                let (_, codes) = crate::two_factor::turn_on(&o.app, &s).await;
                json!({ "c": codes[0], "__as": s.access })
            }),
        ),
    ]
}
