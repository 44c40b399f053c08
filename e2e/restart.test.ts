/**
 * Restarts keep sessions: stopping `npm start` (console and its local worker, cleanly)
 * and starting it again leaves a terminal session's container running and the restarted
 * worker adopts it, so the session answers with its files and shell state.
 */
import { describe, expect, it } from "vitest";
import { containersOf, python, terminal, useConsole } from "./harness.ts";

const c = useConsole({}, 240_000);

describe("a terminal session across a restart of npm start", () => {
  it("answers after the console and its local worker stop and start again, with its files and shell state", async () => {
    // Each command is a new login shell: the session's shell state is its ~/.profile.
    const made = await terminal(c, {
      command:
        "mkdir work && echo kept > work/note.txt && printf 'export OBX_MARK=still-here\\ncd ~/work\\n' >> ~/.profile && echo ok",
      lease_ttl_sec: 600,
    });
    expect(made.status, JSON.stringify(made.body)).toBe(200);
    const id = made.body.session_id;
    expect((await python(c, "print(1)")).status).toBe(200);
    const before = await containersOf(c, "terminalExec");
    expect(before).toHaveLength(1);

    await c.restartAll();

    // The same container, not a new one.
    expect((await containersOf(c, "terminalExec")).map((x) => x.id)).toEqual(before.map((x) => x.id));
    const after = await terminal(c, { session_id: id, command: 'echo "$PWD $OBX_MARK $(cat note.txt)"' });
    expect(after.status, c.output().slice(-3000)).toBe(200);
    expect(after.body).toMatchObject({
      session_id: id,
      created: false,
      stdout: "/workspace/work still-here kept\n",
      exit_code: 0,
    });
    // The python pool was removed at the stop and refilled: a run still answers.
    expect((await python(c, "print(2)")).status).toBe(200);
  });
});
