import { CommandFailure } from "./types.ts";

/**
 * The failure for an exit code the in-container file scripts share (sessionFiles and
 * terminalResource): 3 missing, 4 directory, 5 not a regular file, 6 unreadable. Undefined
 * for any other code, which each script gives its own meaning.
 */
export function pathFailure(code: number, path: string): CommandFailure | undefined {
  switch (code) {
    case 3:
      return new CommandFailure("file_not_found", `file not found: ${path}`);
    case 4:
      return new CommandFailure("path_is_directory", `path is a directory: ${path}`);
    case 5:
      return new CommandFailure("invalid_argument", `not a regular file: ${path}`);
    case 6:
      return new CommandFailure("file_not_found", `file not readable: ${path}`);
    default:
      return undefined;
  }
}
