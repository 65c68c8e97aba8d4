import assert from "node:assert/strict";
import { describeName, entryNameProblem, parserSensitivePaths } from "./entry_name.ts";

Deno.test("names that travel intact have no problem; each refused kind names its rule", () => {
  for (const ok of ["a b", 'q"uote', "back\\slash", "100%", "%41", "%2", "%0", "%0B", "é".repeat(127) + "a", "..."]) {
    assert.equal(entryNameProblem(ok), undefined, ok);
  }
  const refused: [string, RegExp][] = [
    ["", /not a file name/],
    ["..", /not a file name/],
    ["a/b", /'\/'/],
    ["a\u001fb", /control character U\+001F/],
    ["a%0ab", /contains %0a/],
    ["a%0Db", /contains %0D/],
    ["a%22b", /double quote/],
    ["a\ufffdb", /not valid UTF-8/],
    ["é".repeat(128), /256 bytes long/],
  ];
  for (const [name, rule] of refused) assert.match(entryNameProblem(name) ?? "(none)", rule, JSON.stringify(name));
});

Deno.test("names in messages are one escaped line, long ones cut", () => {
  assert.equal(describeName("a\nb\x7f\ufffd"), '"a\\nb\\u007f\\ufffd"');
  assert.equal(describeName("x".repeat(200), 10), `"${"x".repeat(10)}…"`);
});

Deno.test("the paths a CID mismatch blames are those with a quote, ; or =, a backslash pair or a final backslash", () => {
  assert.deepEqual(
    parserSensitivePaths(['d/say "hi"', "a;b", "a=b", "x\\\\y", "end\\", "one\\back", "plain", "100%"]),
    ['d/say "hi"', "a;b", "a=b", "x\\\\y", "end\\"],
  );
});
