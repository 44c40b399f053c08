import type { PythonExecPayload } from "@onlyboxes/proto";

/** The run's input files as the bootstrap and the kernel read them: `[[path, base64], …]` in JSON, empty when none. */
export function encodeInputFiles(files: PythonExecPayload["files"]): Buffer {
  if (files === undefined || files.length === 0) return Buffer.alloc(0);
  return Buffer.from(
    JSON.stringify(files.map((f) => [f.path, f.content_base64 ?? Buffer.from(f.content ?? "", "utf8").toString("base64")])),
  );
}
