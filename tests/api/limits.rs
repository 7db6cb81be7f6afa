//! The safety net: whatever a client sends, it gets a clear error and the server keeps answering.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{error_code, spawn_app, spawn_app_with};

/// graphql-js `getIntrospectionQuery()`, as GraphiQL sends it (about 13 levels deep).
const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}
"#;

async fn still_answers(app: &crate::helpers::TestApp) {
    let body = app.graphql("{ __typename }", json!({})).await;
    assert_eq!(
        body["data"]["__typename"], "Query",
        "the server must keep answering"
    );
}

#[tokio::test]
async fn graphiqls_introspection_query_is_answered() {
    let app = spawn_app().await;
    let body = app.graphql(INTROSPECTION, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    assert!(body["data"]["__schema"]["types"].as_array().unwrap().len() > 20);
}

#[tokio::test]
async fn introspection_is_off_in_production() {
    let app = spawn_app_with(|c| c.env = plugs::config::Environment::Production).await;
    let body = app
        .graphql("{ __schema { types { name } } }", json!({}))
        .await;
    // async-graphql answers a disabled introspection with null, not with the schema (and with
    // no error: a refused request would have no data at all).
    assert_eq!(body, json!({ "data": { "__schema": null } }));
    let body = app
        .graphql("{ __type(name: \"User\") { name } }", json!({}))
        .await;
    assert_eq!(body, json!({ "data": { "__type": null } }));
    still_answers(&app).await;
}

#[tokio::test]
async fn deeply_nested_literals_are_refused_before_parsing() {
    let app = spawn_app().await;
    // ~4 KB of nested list and object literals: async-graphql's parser would overflow its stack.
    for doc in [
        format!(
            "{{ user(id: {}1{}) {{ id }} }}",
            "[".repeat(2000),
            "]".repeat(2000)
        ),
        format!(
            "{{ user(id: {}) {{ id }} }}",
            "{a:".repeat(1400) + "1" + &"}".repeat(1400)
        ),
        format!("{}{}", "{ a ".repeat(2000), "}".repeat(2000)),
    ] {
        let body = app.graphql(&doc, json!({})).await;
        assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"), "{body}");
        // Also over GET.
        let resp = app
            .client
            .get(app.url("/graphql"))
            .query(&[("query", &doc)])
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"));
    }
    still_answers(&app).await;
}

#[tokio::test]
async fn a_document_with_too_many_tokens_is_refused() {
    let app = spawn_app().await;
    let doc = format!("{{ {} }}", "__typename ".repeat(20_000));
    let body = app.graphql(&doc, json!({})).await;
    assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"), "{body}");
    still_answers(&app).await;
}

#[tokio::test]
async fn a_20_mib_body_is_refused() {
    let app = spawn_app().await;
    let huge = "x".repeat(20 * 1024 * 1024);
    let resp = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"query":"{{ __typename }}","variables":{{"pad":"{huge}"}}}}"#
        ))
        .send()
        .await;
    // The server may answer 413 or close the connection while the client still sends.
    if let Ok(resp) = resp {
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    still_answers(&app).await;
}

#[tokio::test]
async fn a_thousand_operation_batch_is_refused() {
    let app = spawn_app().await;
    let batch: Vec<Value> = (0..1000)
        .map(|_| json!({ "query": "{ __typename }" }))
        .collect();
    let resp = app
        .client
        .post(app.url("/graphql"))
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("at most 10")
    );
    still_answers(&app).await;
}

#[tokio::test]
async fn an_alias_bomb_is_refused() {
    let app = spawn_app().await;
    let aliases: String = (0..1000).map(|i| format!("a{i}: __typename ")).collect();
    let body = app.graphql(&format!("{{ {aliases} }}"), json!({})).await;
    assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"), "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("aliases")
    );
    // Up to the limit is fine.
    let ok: String = (0..30).map(|i| format!("a{i}: __typename ")).collect();
    assert!(app.graphql(&format!("{{ {ok} }}"), json!({})).await["errors"].is_null());
    still_answers(&app).await;
}

#[tokio::test]
async fn a_directive_bomb_is_refused_over_post_and_get() {
    let app = spawn_app().await;
    let doc = |n: usize| format!("{{ __typename{} }}", " @include(if: true)".repeat(n));
    let body = app.graphql(&doc(1000), json!({})).await;
    assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"), "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("50 directives"),
        "{body}"
    );
    assert!(body.get("data").is_none(), "{body}");
    // GET checks the raw text before it even looks for the operation type.
    let resp = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", doc(51))])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"), "{body}");
    // Fifty are fine, and so are `@` characters inside strings.
    let body = app.graphql(&doc(50), json!({})).await;
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
    still_answers(&app).await;
}

#[tokio::test]
async fn too_deep_and_too_complex_queries_are_refused() {
    let app = spawn_app().await;
    let s = app.register().await;
    let deep = format!("{}{}", "{ a ".repeat(13), "}".repeat(13));
    let body = app.gql_as(&s.access, &deep, json!({})).await;
    assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"), "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("depth 13")
    );

    let fields = "id email firstName lastName phone bio avatarUrl jobTitle company linkedinUrl isActive \
                  isVerified isAdmin verifiedAt lastLogin createdAt updatedAt deletedAt \
                  organization { id name domain subscriptionPlan settings isActive createdAt updatedAt deletedAt }";
    let heavy = format!(
        "{{ users(first: 100) {{ nodes {{ {fields} }} edges {{ cursor node {{ {fields} }} }} }} }}"
    );
    let body = app.gql_as(&s.access, &heavy, json!({})).await;
    assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"), "{body}");
    // The same shape with a small page is fine; `first` from a variable counts too.
    let light = heavy.replace("first: 100", "first: 5");
    assert!(app.gql_as(&s.access, &light, json!({})).await["errors"].is_null());
    let by_var = heavy.replace("{ users(first: 100)", "query($n: Int) { users(first: $n)");
    let body = app.gql_as(&s.access, &by_var, json!({ "n": 100 })).await;
    assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"), "{body}");
    // The parsed document is kept by its text; the limits are still measured with each
    // request's own variables.
    for (n, refused) in [(5, false), (100, true), (5, false), (100, true)] {
        let body = app.gql_as(&s.access, &by_var, json!({ "n": n })).await;
        assert_eq!(
            error_code(&body) == Some("QUERY_TOO_COMPLEX"),
            refused,
            "{n}: {body}"
        );
    }
    still_answers(&app).await;
}

#[tokio::test]
async fn an_exponential_fragment_chain_is_refused_without_expanding_it() {
    let app = spawn_app().await;
    // 2^40 fields once expanded; measured with each fragment once, it is refused at once.
    let mut doc = String::from("query { ...F0 }\n");
    for i in 0..40 {
        doc.push_str(&format!(
            "fragment F{i} on Query {{ __typename ...F{} ...F{} }}\n",
            i + 1,
            i + 1
        ));
    }
    doc.push_str("fragment F40 on Query { __typename }\n");
    let body = app.graphql(&doc, json!({})).await;
    assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"), "{body}");
    // The same trick inside introspection, which is exempt from the depth limit only.
    let mut doc = String::from("{ __schema { types { ...T0 } } }\n");
    for i in 0..30 {
        doc.push_str(&format!("fragment T{i} on __Type {{ a{i}: fields {{ type {{ ...T{} }} }} b{i}: fields {{ type {{ ...T{} }} }} }}\n", i + 1, i + 1));
    }
    doc.push_str("fragment T30 on __Type { name }\n");
    let body = app.graphql(&doc, json!({})).await;
    assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"), "{body}");
    still_answers(&app).await;
}

#[tokio::test]
async fn brackets_hidden_from_the_scan_are_found_over_get_too() {
    let app = spawn_app().await;
    let deep = format!("{}1{}", "[".repeat(3000), "]".repeat(3000));
    for doc in [
        format!("{{ a #\r(b: {deep}) }}"),
        format!("{{ a(b: \"\"\"\\\\\"\"\"#\"\"\", c: {deep}) }}"),
    ] {
        let resp = app
            .client
            .get(app.url("/graphql"))
            .query(&[("query", &doc)])
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"), "{body}");
        let body = app.graphql(&doc, json!({})).await;
        assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"), "{body}");
    }
    still_answers(&app).await;
}

#[tokio::test]
async fn defaults_and_fragments_cannot_hide_a_connections_size() {
    let app = spawn_app().await;
    let s = app.register().await;
    let fields = "id email firstName lastName phone bio avatarUrl jobTitle company linkedinUrl isActive \
                  isVerified isAdmin verifiedAt lastLogin createdAt updatedAt deletedAt \
                  organization { id name domain subscriptionPlan settings isActive createdAt updatedAt deletedAt }";
    let by_default = format!(
        "query($n: Int = 100) {{ users(first: $n) {{ nodes {{ {fields} }} edges {{ node {{ {fields} }} }} }} }}"
    );
    let body = app.gql_as(&s.access, &by_default, json!({})).await;
    assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"), "{body}");
    let hidden = format!(
        "query {{ a: users {{ ...P }} b: users {{ ...P }} c: users {{ ...P }} d: users {{ ...P }} e: users {{ ...P }} }} \
         fragment P on UserConnection {{ nodes {{ {fields} }} edges {{ node {{ {fields} }} }} }}"
    );
    let body = app.gql_as(&s.access, &hidden, json!({})).await;
    assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"), "{body}");
}

#[tokio::test]
async fn every_error_has_a_code_and_request_errors_are_400_for_the_new_media_type() {
    let app = spawn_app().await;
    for doc in [
        "{ users(",
        "{ nope }",
        "query($id: ID!) { user(id: $id) { id } }",
        "{ users(first: \"x\") { totalCount } }",
    ] {
        let body = app.graphql(doc, json!({})).await;
        assert!(
            body["errors"].as_array().is_some_and(|e| !e.is_empty()),
            "{doc}: {body}"
        );
        // Each is the client's mistake, found before execution.
        for e in body["errors"].as_array().unwrap() {
            assert_eq!(e["extensions"]["code"], "BAD_USER_INPUT", "{doc}: {e}");
        }
        assert!(body.get("data").is_none(), "{doc}: {body}");
    }
    let resp = app
        .client
        .post(app.url("/graphql"))
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": "{ nope }" }))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    let resp = app
        .client
        .post(app.url("/graphql"))
        .json(&json!([]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    // A declared Content-Length over the limit is refused with the usual JSON error shape.
    let resp = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
}

/// A document that passed validation runs later requests on a lighter validation (#14): each
/// request's variables must still be checked exactly as before. Every bad value gets the same
/// answer from the validated document as from a document the server has never seen.
#[tokio::test]
async fn a_validated_document_still_checks_every_requests_variables() {
    let app = spawn_app().await;
    let s = app.register().await;
    let doc = "query($n: Int, $id: ID!, $after: String, $flag: Boolean!) { \
               contacts(first: $n, after: $after) { totalCount } \
               contact(id: $id) @include(if: $flag) { id } }";
    let id = uuid::Uuid::new_v4().to_string();
    let good = json!({ "n": 2, "id": id, "after": null, "flag": true });
    for _ in 0..2 {
        let body = app.gql_as(&s.access, doc, good.clone()).await;
        assert_eq!(body["data"]["contacts"]["totalCount"], 0, "{body}");
    }
    let bad = [
        json!({ "n": "x", "id": id, "flag": true }),
        json!({ "n": 2.5, "id": id, "flag": true }),
        json!({ "n": -1, "id": id, "flag": true }),
        json!({ "n": 1_099_511_627_776_i64, "id": id, "flag": true }),
        json!({ "n": 2, "id": null, "flag": true }),
        json!({ "n": 2, "id": { "a": 1 }, "flag": true }),
        json!({ "n": 2, "id": [id], "flag": true }),
        json!({ "n": 2, "id": id, "after": 7, "flag": true }),
        json!({ "n": 2, "id": id, "flag": "yes" }),
        json!({ "n": 2, "id": id, "flag": null }),
        json!({ "n": null, "id": id, "flag": false }),
    ];
    for (i, variables) in bad.into_iter().enumerate() {
        let validated = app.gql_as(&s.access, doc, variables.clone()).await;
        let unseen = format!("{doc} # {i}");
        let first_time = app.gql_as(&s.access, &unseen, variables.clone()).await;
        assert_eq!(validated, first_time, "{variables}");
        assert!(
            validated["errors"].is_array() || i == 10,
            "{variables}: {validated}"
        );
    }
    // The good variables still run on the validated document.
    let body = app.gql_as(&s.access, doc, good).await;
    assert_eq!(body["data"]["contacts"]["totalCount"], 0, "{body}");
}

/// Validation checks an operation the request does not select only in part: a document with
/// several operations takes the full validation every time, whichever operation ran before.
#[tokio::test]
async fn a_document_with_several_operations_is_validated_whole_every_time() {
    let app = spawn_app().await;
    let s = app.register().await;
    let doc = "query A($s: String) { contacts(filter: { search: $s }) { totalCount } } \
               query B($s: String) { contacts(filter: { search: $s, leadScoreMin: \"high\" }) { totalCount } }";
    let ask = |name: Option<&str>| {
        let mut body = json!({ "query": doc, "variables": { "s": "x" } });
        if let Some(name) = name {
            body["operationName"] = json!(name);
        }
        body
    };
    let post = |body: Value| {
        let app = &app;
        let token = s.access.clone();
        async move {
            let resp = app
                .client
                .post(app.url("/graphql"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            resp.json::<Value>().await.unwrap()
        }
    };
    for _ in 0..2 {
        let body = post(ask(Some("A"))).await;
        assert_eq!(body["data"]["contacts"]["totalCount"], 0, "{body}");
    }
    // B's literal was never checked while A ran; it is now, as a request error.
    let body = post(ask(Some("B"))).await;
    assert!(body.get("data").is_none(), "{body}");
    let message = body["errors"][0]["message"].to_string();
    assert!(message.contains("Invalid value for argument"), "{body}");
    // Without an operation name: the same answer as a document never seen before.
    let seen = post(ask(None)).await;
    let mut fresh = ask(None);
    fresh["query"] = json!(format!("{doc} # fresh"));
    assert_eq!(seen, post(fresh).await);
}
