//! GraphQL over WebSocket (graphql-transport-ws): authentication in `connection_init`.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

use crate::helpers::{TestApp, spawn_app};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect(app: &TestApp, init: Value) -> Socket {
    let url = app.url("/graphql/ws").replace("http://", "ws://");
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, resp) = tokio_tungstenite::connect_async(req)
        .await
        .expect("websocket upgrade");
    assert_eq!(
        resp.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    ws.send(Message::text(
        json!({ "type": "connection_init", "payload": init }).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "connection_ack");
    ws
}

pub async fn next_json(ws: &mut Socket) -> Value {
    loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s")
            .expect("socket open")
            .expect("a frame");
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] != "ping" {
                return v;
            }
        }
    }
}

async fn run(ws: &mut Socket, id: &str, query: &str) -> Value {
    ws.send(Message::text(
        json!({ "id": id, "type": "subscribe", "payload": { "query": query } }).to_string(),
    ))
    .await
    .unwrap();
    loop {
        let msg = next_json(ws).await;
        // Skip the `complete` that closes an earlier operation.
        if msg["id"] == id && msg["type"] != "complete" {
            return msg;
        }
    }
}

#[tokio::test]
async fn a_socket_authenticates_in_connection_init() {
    let app = spawn_app().await;
    let s = app.register().await;
    let mut ws = connect(
        &app,
        json!({ "authorization": format!("Bearer {}", s.access) }),
    )
    .await;
    let msg = run(&mut ws, "1", "{ me { id } }").await;
    assert_eq!(msg["type"], "next");
    assert_eq!(msg["payload"]["data"]["me"]["id"], s.user_id.as_str());
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("plugs_websocket_connections 1\n"),
        "{metrics}"
    );

    let mut anon = connect(&app, json!({})).await;
    let msg = run(&mut anon, "1", "{ me { id } }").await;
    assert_eq!(
        msg["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{msg}"
    );
    let mut forged = connect(&app, json!({ "authorization": "Bearer forged.token.here" })).await;
    let msg = run(&mut forged, "1", "{ me { id } }").await;
    assert_eq!(
        msg["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{msg}"
    );
    // The safety net holds on this transport too.
    let deep = format!(
        "{{ user(id: {}1{}) {{ id }} }}",
        "[".repeat(3000),
        "]".repeat(3000)
    );
    let msg = run(&mut ws, "2", &deep).await;
    let code = msg["payload"]["errors"][0]["extensions"]["code"]
        .as_str()
        .or(msg["payload"][0]["extensions"]["code"].as_str());
    assert_eq!(code, Some("QUERY_TOO_COMPLEX"), "{msg}");
}

#[tokio::test]
async fn an_open_socket_loses_access_with_its_session() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let mut ws = connect(
        &app,
        json!({ "authorization": format!("Bearer {}", member.access) }),
    )
    .await;
    assert_eq!(
        run(&mut ws, "1", "{ me { id } }").await["payload"]["data"]["me"]["id"],
        member.user_id.as_str()
    );
    app.gql_as(
        &admin.access,
        "mutation($id: ID!) { updateUser(id: $id, input: { isActive: false }) { id } }",
        json!({ "id": member.user_id }),
    )
    .await;
    let msg = run(&mut ws, "2", "{ me { id } }").await;
    assert_eq!(
        msg["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{msg}"
    );
}
