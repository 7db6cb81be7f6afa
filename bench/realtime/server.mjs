// The baseline for bench/realtime: a Node graphql-ws server holding the same subscriptions as
// this project (`eventAttendeeChanged(eventId)` over `graphql-transport-ws` at /graphql/ws),
// with the few mutations examples/ws_load.rs drives over POST /graphql. State lives in memory
// and changes fan out through an in-process pub/sub: the cheapest a Node server can be, with
// no database and no authentication, so this project is held to a lenient baseline.
import http from "node:http";
import { randomUUID } from "node:crypto";
import { buildSchema, graphql, parse } from "graphql";
import { WebSocketServer } from "ws";
import { useServer } from "graphql-ws/use/ws";

const schema = buildSchema(`
  type Query { apiVersion: String! }
  type AuthPayload { accessToken: String! }
  type Event { id: ID! }
  type EventAttendee { id: ID! notes: String }
  enum AttendeeChangeKind { REGISTERED CANCELLED CHECKED_IN CHECKED_OUT UPDATED }
  type AttendeeChange { kind: AttendeeChangeKind! currentAttendees: Int! attendee: EventAttendee! }
  input RegisterInput { organizationName: String! organizationDomain: String! email: String! password: String! firstName: String! lastName: String! }
  input CreateEventInput { title: String! startDate: String! endDate: String! }
  input UpdateAttendeeInput { notes: String }
  input CreateUserInput { email: String! password: String! firstName: String! lastName: String! isAdmin: Boolean }
  input LoginInput { email: String! password: String! }
  type User { id: ID! }
  type Mutation {
    register(input: RegisterInput!): AuthPayload!
    createUser(input: CreateUserInput!): User!
    login(input: LoginInput!): AuthPayload!
    createEvent(input: CreateEventInput!): Event!
    publishEvent(id: ID!): Event!
    registerForEvent(eventId: ID!): EventAttendee!
    updateAttendee(id: ID!, input: UpdateAttendeeInput!): EventAttendee!
  }
  type Subscription { eventAttendeeChanged(eventId: ID!): AttendeeChange! }
`);

const attendees = new Map(); // id -> { id, eventId, notes }
const listeners = new Map(); // eventId -> Set<push>

function subscribe(eventId) {
  const queue = [];
  let wake = null;
  const push = (v) => { queue.push(v); if (wake) { wake(); wake = null; } };
  let set = listeners.get(eventId);
  if (!set) listeners.set(eventId, (set = new Set()));
  set.add(push);
  return {
    [Symbol.asyncIterator]() { return this; },
    async next() {
      while (queue.length === 0) await new Promise((r) => (wake = r));
      return { value: queue.shift(), done: false };
    },
    async return() { set.delete(push); return { value: undefined, done: true }; },
  };
}

const root = {
  apiVersion: () => "baseline",
  register: () => ({ accessToken: randomUUID() }),
  createUser: () => ({ id: randomUUID() }),
  login: () => ({ accessToken: randomUUID() }),
  createEvent: () => ({ id: randomUUID() }),
  publishEvent: ({ id }) => ({ id }),
  registerForEvent: ({ eventId }) => {
    const a = { id: randomUUID(), eventId, notes: null };
    attendees.set(a.id, a);
    return a;
  },
  updateAttendee: ({ id, input }) => {
    const a = attendees.get(id);
    a.notes = input.notes;
    const change = { eventAttendeeChanged: { kind: "UPDATED", currentAttendees: 1, attendee: { ...a } } };
    for (const push of listeners.get(a.eventId) ?? []) push(change);
    return a;
  },
  eventAttendeeChanged: ({ eventId }) => subscribe(eventId),
};

const server = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", async () => {
    const { query, variables } = JSON.parse(body || "{}");
    const result = await graphql({ schema, source: query, rootValue: root, variableValues: variables });
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(result));
  });
});
const wss = new WebSocketServer({ server, path: "/graphql/ws" });
useServer(
  {
    schema,
    roots: { query: root, mutation: root, subscription: root },
    onSubscribe: (_ctx, _id, payload) => ({
      schema,
      document: parse(payload.query),
      variableValues: payload.variables,
      rootValue: root,
    }),
  },
  wss,
);
server.listen(Number(process.env.PORT ?? 4000), "127.0.0.1");
