import { describe, expect, it } from "vitest";
import { parseCommand, UsageError } from "../src/args.ts";

describe("parseCommand", () => {
  it.each<[string[], unknown]>([
    [["run", "script.py"], { kind: "run", file: "script.py" }],
    [["run", "-"], { kind: "run", file: "-" }],
    [["run", "--session", "s1", "--timeout", "5000", "a.py"], { kind: "run", file: "a.py", session: "s1", timeoutMs: 5000 }],
    [["sh", "ls -la"], { kind: "sh", command: "ls -la" }],
    [["sh", "-s", "abc", "echo hi"], { kind: "sh", command: "echo hi", session: "abc" }],
    [["sh", "--", "ls", "-la"], { kind: "sh", command: "ls -la" }],
    [["--help"], { kind: "help" }],
    [["help"], { kind: "help" }],
    [["-v"], { kind: "version" }],
    [
      ["cp", "data.csv", "sess_1:"],
      { kind: "cp", from: { kind: "local", path: "data.csv" }, to: { kind: "remote", session: "sess_1", path: "" } },
    ],
    [
      ["cp", "./a:b.csv", "s:in/"],
      { kind: "cp", from: { kind: "local", path: "./a:b.csv" }, to: { kind: "remote", session: "s", path: "in/" } },
    ],
    [
      ["cp", "s:out/plot.png", "./local"],
      { kind: "cp", from: { kind: "remote", session: "s", path: "out/plot.png" }, to: { kind: "local", path: "./local" } },
    ],
    [
      ["cp", "s:/tmp/x:y"],
      { kind: "cp", from: { kind: "remote", session: "s", path: "/tmp/x:y" }, to: { kind: "local", path: "." } },
    ],
    [
      ["cp", "-", "s:notes.txt"],
      { kind: "cp", from: { kind: "local", path: "-" }, to: { kind: "remote", session: "s", path: "notes.txt" } },
    ],
    [["session", "new"], { kind: "session-new" }],
    [["session", "new", "--lease", "600"], { kind: "session-new", leaseSec: 600 }],
    [["session", "ls"], { kind: "session-ls" }],
    [["session", "rm", "a", "b"], { kind: "session-rm", sessions: ["a", "b"] }],
  ])("%j → %j", (argv, expected) => {
    expect(parseCommand(argv)).toEqual(expected);
  });

  it.each<[string[], RegExp]>([
    [[], /^missing command: run, sh, cp or session$/],
    [["exec", "x"], /^unknown command: exec \(expected run, sh, cp or session\)$/],
    [["cp"], /^cp: give a source and a target/],
    [["cp", "a", "b", "c"], /^cp: give a source and a target/],
    [["cp", "a.csv"], /^cp: where to\? give a target like SESSION: after a\.csv$/],
    [["cp", "a.csv", "b.csv"], /^cp: one side must be in a session/],
    [["cp", "s:a", "t:b"], /^cp: one side must be local/],
    [["cp", "a.csv", ":x"], /^cp: :x: the session id before the colon is missing$/],
    [["cp", "s:", "."], /^cp: s:: name a file in the session, not a directory$/],
    [["cp", "s:dir/", "."], /^cp: s:dir\/: name a file in the session/],
    [["cp", "-", "s:"], /^cp: stdin has no name/],
    [["cp", "my file:1", "s:"], /write a local name with a colon as \.\/NAME/],
    [["cp", "--session", "s", "a", "s:"], /^cp: --session is for run and sh$/],
    [["run", "--lease", "5", "a.py"], /^--lease is for session new$/],
    [["session"], /^session: missing subcommand: new, ls or rm$/],
    [["session", "kill"], /^session: unknown subcommand: kill/],
    [["session", "ls", "--lease", "5"], /^--lease is for session new$/],
    [["session", "new", "--lease", "0"], /^--lease must be a positive whole number of seconds, not 0$/],
    [["session", "new", "x"], /^session new: unexpected arguments: x$/],
    [["session", "rm"], /^session rm: give the id/],
    [["run"], /^run: missing the Python file/],
    [["run", "a.py", "b.py"], /^run: unexpected arguments: b\.py$/],
    [["sh"], /^sh: missing the command line$/],
    [["sh", "  "], /^sh: the command line must not be empty$/],
    [["sh", "--timeout", "0", "ls"], /^--timeout must be a positive whole number of milliseconds, not 0$/],
    [["sh", "--timeout", "1.5", "ls"], /^--timeout must be a positive whole number/],
    [["sh", "--session", "", "ls"], /^--session must not be empty$/],
    [["sh", "--bogus", "ls"], /bogus/],
  ])("%j is a usage error", (argv, message) => {
    expect(() => parseCommand(argv)).toThrow(UsageError);
    expect(() => parseCommand(argv)).toThrow(message);
  });
});
