//! GraphiQL, served entirely from the binary: the page must work with no network.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <meta name="viewport" content="width=device-width, initial-scale=1" />
  <title>The Plugs · GraphiQL</title>
  <link rel="stylesheet" href="/assets/graphiql/graphiql.min.css" />
  <style>html, body, #graphiql { height: 100%; margin: 0; }</style>
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <script src="/assets/graphiql/react.production.min.js"></script>
  <script src="/assets/graphiql/react-dom.production.min.js"></script>
  <script src="/assets/graphiql/graphiql.min.js"></script>
  <script>
    // Subscriptions go over /graphql/ws (graphql-transport-ws); the headers pane's
    // Authorization is sent as the connection_init payload.
    const ws = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql/ws';
    const fetcher = GraphiQL.createFetcher({ url: '/graphql', subscriptionUrl: ws });
    const root = ReactDOM.createRoot(document.getElementById('graphiql'));
    root.render(React.createElement(GraphiQL, {
      fetcher,
      defaultEditorToolsVisibility: true,
      defaultQuery: '# Welcome to The Plugs API.\n# Authenticate with {\"Authorization\": \"Bearer <token>\"} in the Headers pane\n# (used for subscriptions too).\n{\n  apiVersion\n}\n',
    }));
  </script>
</body>
</html>
"#;

pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// What `/` says in production. The asset routes stay: they serve only the vendored files.
const INTROSPECTION_OFF: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <title>The Plugs API</title>
</head>
<body>
  <h1>The Plugs API</h1>
  <p>GraphiQL is off: introspection is disabled in production, and the playground needs it to
  read the schema.</p>
  <p>Call the API with <code>POST /graphql</code>, a JSON body
  <code>{"query": "...", "variables": {...}}</code>, <code>Content-Type: application/json</code> and
  <code>Authorization: Bearer &lt;accessToken&gt;</code> (get one with the <code>login</code> mutation).
  Subscriptions use the WebSocket at <code>/graphql/ws</code> (<code>graphql-transport-ws</code>).</p>
  <pre>curl -s -X POST /graphql -H 'content-type: application/json' -d '{"query":"{ apiVersion }"}'</pre>
  <p>To explore the schema, read <code>schema.graphql</code> or run a server with
  <code>PLUGS_ENV=development</code>.</p>
</body>
</html>
"#;

pub async fn introspection_off() -> Html<&'static str> {
    Html(INTROSPECTION_OFF)
}

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "graphiql.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/graphiql/graphiql.min.js"),
    },
    Asset {
        name: "graphiql.min.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/graphiql/graphiql.min.css"),
    },
    Asset {
        name: "react.production.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/graphiql/react.production.min.js"),
    },
    Asset {
        name: "react-dom.production.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
    },
];

pub async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == file) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.content_type),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            a.bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
