-- Scale S for bench/run, on a database migrated by `plugs migrate up`:
-- 10 organizations, 500 users, 10,000 contacts, 100,000 interactions,
-- 200 events, 10,000 attendees, 1,600 agenda items.
-- Ids are derived from md5 so that every run builds the same data.
-- :'hash' is an Argon2 password hash (bench/run copies the demo admin's).
BEGIN;

INSERT INTO organizations (id, name, domain)
SELECT md5('org' || o)::uuid, 'Bench Org ' || o, 'org' || o || '.bench.example'
FROM generate_series(1, 10) o;

INSERT INTO users (id, organization_id, email, password_hash, first_name, last_name,
                   is_active, is_verified, is_admin, job_title, company)
SELECT md5('user' || u)::uuid, md5('org' || ((u - 1) / 50 + 1))::uuid,
       'u' || u || '@org' || ((u - 1) / 50 + 1) || '.bench.example', :'hash',
       'First' || u, 'Last' || u, true, true, (u - 1) % 50 = 0,
       'Title ' || (u % 7), 'Company ' || (u % 13)
FROM generate_series(1, 500) u;

-- contact c belongs to organization (c-1)/1000+1 and was created by one of its 50 users
INSERT INTO contacts (id, organization_id, created_by, first_name, last_name, email, company,
                      job_title, contact_type, status, priority, industry, lead_score, created_at)
SELECT md5('contact' || c)::uuid, md5('org' || ((c - 1) / 1000 + 1))::uuid,
       md5('user' || (((c - 1) / 1000) * 50 + (c % 50) + 1))::uuid,
       'Contact' || c, 'Surname' || (c % 97), 'c' || c || '@example.com', 'Company ' || (c % 31),
       'Job ' || (c % 11), (ARRAY['target','contact','plug'])[c % 3 + 1],
       (ARRAY['new_client','existing_client','hot_lead','cold_lead'])[c % 4 + 1],
       (ARRAY['high','medium','low'])[c % 3 + 1], 'Industry ' || (c % 9), (c * 37) % 101,
       timestamptz '2026-01-01' + (c || ' minutes')::interval
FROM generate_series(1, 10000) c;

-- ten interactions per contact, by users of the contact's organization
INSERT INTO contact_interactions (id, organization_id, contact_id, user_id, interaction_type,
                                  subject, interaction_date, status)
SELECT md5('interaction' || c || '-' || k)::uuid, md5('org' || ((c - 1) / 1000 + 1))::uuid,
       md5('contact' || c)::uuid, md5('user' || (((c - 1) / 1000) * 50 + ((c + k) % 50) + 1))::uuid,
       (ARRAY['meeting','call','email','linkedin'])[k % 4 + 1], 'Subject ' || k,
       timestamptz '2026-02-01' + ((c * 10 + k) || ' minutes')::interval, 'completed'
FROM generate_series(1, 10000) c, generate_series(1, 10) k;

UPDATE contacts c SET last_interaction = i.latest
FROM (SELECT contact_id, max(interaction_date) AS latest FROM contact_interactions GROUP BY contact_id) i
WHERE i.contact_id = c.id;

-- twenty events per organization; every one of the organization's 50 users attends each
INSERT INTO events (id, organization_id, created_by, title, event_type, status, start_date,
                    end_date, location, max_attendees, current_attendees)
SELECT md5('event' || e)::uuid, md5('org' || ((e - 1) / 20 + 1))::uuid,
       md5('user' || (((e - 1) / 20) * 50 + (e % 50) + 1))::uuid, 'Event ' || e,
       (ARRAY['conference','workshop','networking','meeting'])[e % 4 + 1], 'published',
       timestamptz '2027-01-01' + (e || ' days')::interval,
       timestamptz '2027-01-01' + (e || ' days')::interval + interval '8 hours',
       'Hall ' || (e % 5), 100, 50
FROM generate_series(1, 200) e;

INSERT INTO event_attendees (id, organization_id, event_id, user_id, status, registration_date)
SELECT md5('attendee' || e || '-' || a)::uuid, md5('org' || ((e - 1) / 20 + 1))::uuid,
       md5('event' || e)::uuid, md5('user' || (((e - 1) / 20) * 50 + a))::uuid, 'registered',
       timestamptz '2026-06-01' + ((e * 50 + a) || ' minutes')::interval
FROM generate_series(1, 200) e, generate_series(1, 50) a;

INSERT INTO event_agenda_items (id, organization_id, event_id, created_by, title, start_time,
                                end_time, agenda_type, speaker_id, sort_order)
SELECT md5('agenda' || e || '-' || s)::uuid, md5('org' || ((e - 1) / 20 + 1))::uuid,
       md5('event' || e)::uuid, md5('user' || (((e - 1) / 20) * 50 + 1))::uuid, 'Session ' || s,
       timestamptz '2027-01-01' + (e || ' days')::interval + (s || ' hours')::interval - interval '1 hour',
       timestamptz '2027-01-01' + (e || ' days')::interval + (s || ' hours')::interval - interval '15 minutes',
       (ARRAY['presentation','break','networking','workshop'])[s % 4 + 1],
       md5('user' || (((e - 1) / 20) * 50 + s + 1))::uuid, s
FROM generate_series(1, 200) e, generate_series(1, 8) s;

COMMIT;
ANALYZE;
