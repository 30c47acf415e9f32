// The embedded database (PGlite) is one process's: two processes opening the same directory would
// corrupt it, and PGlite takes no lock of its own. Whoever opens a data folder's pglite/ (`adenroll
// serve`, or an admin command acting on storage directly) first holds `pglite.lock` beside it: a file
// created exclusively, naming the holder's process. A lock whose process is gone (same host) is stale
// and taken over.
import { hostname } from "node:os";
import { readFile, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import process from "node:process";
import { z } from "zod";
import { systemErrorCode } from "./error-text.ts";

export const dataLockFileName = "pglite.lock";

const LockFile = z.object({ pid: z.number().int(), host: z.string(), command: z.string().optional() });

/** The data folder's embedded database is held by another process. */
export class DataFolderInUseError extends Error {
  override readonly name = "DataFolderInUseError";
  constructor(
    readonly file: string,
    readonly holder: string,
  ) {
    super(`the embedded database in ${path.dirname(file)} is in use by ${holder} (lock ${file})`);
  }
}

export interface DataLock {
  readonly file: string;
  release(): Promise<void>;
}

/** Takes the data folder's lock for `command` (what the holder is, for the message another process shows). */
export async function lockDataFolder(dataDir: string, command: string): Promise<DataLock> {
  const file = path.join(dataDir, dataLockFileName);
  const mine = JSON.stringify({ pid: process.pid, host: hostname(), command });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, `${mine}\n`, { flag: "wx", mode: 0o600 });
      let released = false;
      return {
        file,
        async release() {
          if (released) return;
          released = true;
          await unlink(file).catch(() => undefined);
        },
      };
    } catch (error) {
      if (systemErrorCode(error) !== "EEXIST") throw error;
    }
    const holder = await readHolder(file);
    if (holder !== null && holder.host === hostname() && !isAlive(holder.pid)) {
      await unlink(file).catch(() => undefined);
      continue;
    }
    throw new DataFolderInUseError(file, holder === null ? "another process" : `${holder.command ?? "a process"} (pid ${holder.pid} on ${holder.host})`);
  }
  throw new DataFolderInUseError(file, "another process");
}

async function readHolder(file: string): Promise<z.infer<typeof LockFile> | null> {
  try {
    const parsed = LockFile.safeParse(JSON.parse(await readFile(file, "utf8")));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, but is someone else's.
    return systemErrorCode(error) !== "ESRCH";
  }
}
