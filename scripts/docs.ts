/** Regenerates the configuration table in README.md and `.env.example` from the schema. */
import { renderEnvExample, spliceReadme } from "../src/config/docs.ts";

const readme = await Deno.readTextFile("README.md");
await Deno.writeTextFile("README.md", spliceReadme(readme));
await Deno.writeTextFile(".env.example", renderEnvExample());
console.log("README.md configuration table and .env.example regenerated");
