//! GraphQL over WebSocket (graphql-transport-ws): authentication in `connection_init`.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

use crate::helpers::{TestApp, spawn_app};

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A socket speaking `protocol` (`graphql-transport-ws` or `graphql-ws`), not yet initialised.
pub async fn open(app: &TestApp, protocol: &str) -> Socket {
    let url = app.url("/graphql/ws").replace("http://", "ws://");
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", protocol.parse().unwrap());
    let (ws, resp) = tokio_tungstenite::connect_async(req)
        .await
        .expect("websocket upgrade");
    assert_eq!(resp.headers()["sec-websocket-protocol"], protocol);
    ws
}

pub async fn send_json(ws: &mut Socket, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// An acknowledged `graphql-transport-ws` socket.
pub async fn connect(app: &TestApp, init: Value) -> Socket {
    let mut ws = open(app, "graphql-transport-ws").await;
    send_json(
        &mut ws,
        json!({ "type": "connection_init", "payload": init }),
    )
    .await;
    let ack = next_json(&mut ws).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    ws
}

/// An acknowledged socket for `token`.
pub async fn connect_as(app: &TestApp, token: &str) -> Socket {
    connect(app, json!({ "authorization": format!("Bearer {token}") })).await
}

/// Waits for the server to close the socket; its close code and reason.
pub async fn expect_close(ws: &mut Socket) -> (u16, String) {
    loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("the server closes within 10 s");
        match msg {
            Some(Ok(Message::Close(Some(frame)))) => {
                return (frame.code.into(), frame.reason.to_string());
            }
            Some(Ok(Message::Close(None))) | None => return (1005, String::new()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("socket error before a close frame: {e}"),
        }
    }
}

/// The next frame of any kind (10 s ceiling).
pub async fn next_frame(ws: &mut Socket) -> Message {
    tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
        .await
        .expect("a frame within 10 s")
        .expect("socket open")
        .expect("a frame")
}

/// Nothing but keep-alives arrives for `ms` milliseconds.
pub async fn assert_silent(ws: &mut Socket, ms: u64) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(ms);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return,
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                assert!(
                    v["type"] == "ping" || v["type"] == "ka",
                    "expected nothing, got {v}"
                );
            }
            Ok(Some(Ok(_))) => {}
            Ok(other) => panic!("socket ended: {other:?}"),
        }
    }
}

/// Starts a subscription (`subscribe`, or `start` on the legacy protocol).
pub async fn subscribe(ws: &mut Socket, id: &str, query: &str, variables: Value) {
    send_json(
        ws,
        json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } }),
    )
    .await;
}

pub async fn next_json(ws: &mut Socket) -> Value {
    loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(30), ws.next())
            .await
            .expect("a message within 30 s")
            .expect("socket open")
            .expect("a frame");
        match msg {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] != "ping" && v["type"] != "ka" {
                    return v;
                }
            }
            Message::Close(frame) => panic!("the server closed the socket: {frame:?}"),
            _ => {}
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
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("plugs_websocket_connections 1\n"),
        "{metrics}"
    );

    // No token, or a bad one: the socket is refused in connection_init (4403).
    for init in [
        json!({}),
        json!({ "authorization": "Bearer forged.token.here" }),
    ] {
        let mut refused = open(&app, "graphql-transport-ws").await;
        send_json(
            &mut refused,
            json!({ "type": "connection_init", "payload": init }),
        )
        .await;
        let (code, reason) = expect_close(&mut refused).await;
        assert_eq!(code, 4403, "{reason}");
    }
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
    let body = app
        .gql_as(
            &admin.access,
            "mutation($id: ID!) { updateUser(id: $id, input: { isActive: false }) { id } }",
            json!({ "id": member.user_id }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    // The socket is closed when its session ends, whatever it was doing.
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(code, 4403, "{reason}");
}
