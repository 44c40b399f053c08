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
  ])("%j → %j", (argv, expected) => {
    expect(parseCommand(argv)).toEqual(expected);
  });

  it.each<[string[], RegExp]>([
    [[], /^missing command: run or sh$/],
    [["exec", "x"], /^unknown command: exec \(expected run or sh\)$/],
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
