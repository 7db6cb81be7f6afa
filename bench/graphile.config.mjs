// PostGraphile v5 for bench/run: its cheapest setup (Amber preset, simplify-inflection,
// no RLS, no JWT; every relation and order exposed), on the same database as the server under test.
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { PgSimplifyInflectionPreset } from "@graphile/simplify-inflection";
import { makePgService } from "postgraphile/adaptors/pg";

export default {
  extends: [PostGraphileAmberPreset, PgSimplifyInflectionPreset],
  // Expose every relation and order, not only indexed ones, so that the five
  // shapes can be written for both servers.
  disablePlugins: ["PgIndexBehaviorsPlugin"],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL,
      schemas: ["public"],
      poolConfig: { max: Number(process.env.POOL_MAX ?? 10) },
    }),
  ],
  grafserv: { port: Number(process.env.PORT ?? 5678), graphiql: false },
};
