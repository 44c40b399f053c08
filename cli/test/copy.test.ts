import path from "node:path";
import { describe, expect, it } from "vitest";
import { localTarget, remoteTarget } from "../src/copy.ts";

describe("remoteTarget (upload)", () => {
  it.each<[string, string, string]>([
    ["data/sales.csv", "", "sales.csv"],
    ["data/sales.csv", "in/", "in/sales.csv"],
    ["sales.csv", "/tmp/", "/tmp/sales.csv"],
    ["sales.csv", "renamed.csv", "renamed.csv"],
    ["-", "notes.txt", "notes.txt"],
  ])("%s → SESSION:%s lands at %s", (local, remote, expected) => {
    expect(remoteTarget(local, remote)).toBe(expected);
  });
});

describe("localTarget (download)", () => {
  it.each<[string, string, boolean, string]>([
    ["out/plot.png", ".", true, "plot.png"],
    ["out/plot.png", "dir/", false, path.join("dir", "plot.png")],
    ["/workspace/out/plot.png", "existing", true, path.join("existing", "plot.png")],
    ["out/plot.png", "mine.png", false, "mine.png"],
  ])("SESSION:%s → %s (directory: %s) lands at %s", (remote, local, isDir, expected) => {
    expect(localTarget(remote, local, isDir)).toBe(expected);
  });
});
