// GraphQL-over-HTTP conformance check: runs graphql-http's full server audit
// against a live server and prints one line per audit.
//
// Usage: node audit.mjs <url>     e.g. node audit.mjs http://127.0.0.1:18080/graphql
// Exit code: 1 if any audit is 'warn' (failed SHOULD) or 'error' (failed MUST), else 0.
// 'notice' (failed MAY, truly optional) is printed and counted but does not fail the run.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <url>');
  process.exit(2);
}

// Some audits consume the response body (res.arrayBuffer()) before deciding it
// failed, so the Response attached to the result may be unreadable. Keep an
// untouched clone of every response, keyed by the original, to print bodies.
const pristine = new WeakMap();
async function fetchFn(input, init) {
  const res = await fetch(input, init);
  pristine.set(res, res.clone());
  return res;
}

// Describe the response of a failed audit: status, content-type, truncated body.
async function describe(res) {
  if (!res) return '(no response)';
  let body;
  try {
    body = await (pristine.get(res) ?? res).text();
  } catch (err) {
    body = `<unreadable body: ${err.message}>`;
  }
  if (body.length > 300) body = body.slice(0, 300) + '...';
  const ct = res.headers.get('content-type') ?? '(none)';
  return `${res.status} ${ct} ${JSON.stringify(body)}`;
}

const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
// Run sequentially, in the library's order, so the output is stable and a
// server that struggles under concurrency does not produce spurious failures.
for (const { id, name, fn } of serverAudits({ url, fetchFn })) {
  let result;
  try {
    result = await fn();
  } catch (err) {
    // fn() only throws on fatal problems (e.g. connection refused); count it
    // as an error rather than aborting the whole run.
    result = { status: 'error', reason: `fatal: ${err?.cause?.message ?? err}` };
  }
  counts[result.status]++;
  let line = `${result.status.toUpperCase().padEnd(6)} ${id} ${name}`;
  if (result.status !== 'ok') {
    line += `\n       reason: ${result.reason}\n       response: ${await describe(result.response)}`;
  }
  console.log(line);
}

console.log(`\n${counts.ok} ok, ${counts.warn} warn, ${counts.error} error (${counts.notice} notice)`);
process.exit(counts.warn || counts.error ? 1 : 0);
