/**
 * A throwaway self-signed certificate for "localhost"/127.0.0.1, made with the openssl CLI
 * into a private temp dir. Missing openssl is an error (the suites must fail, not skip).
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TlsMaterial {
  dir: string;
  certPath: string;
  keyPath: string;
  cert: Buffer;
  key: Buffer;
  dispose(): void;
}

/** Runs openssl asynchronously, so that starting an emulator doesn't stall other emulators' event loop. */
export async function makeLocalhostCert(openssl = "openssl"): Promise<TlsMaterial> {
  const dir = await mkdtemp(join(tmpdir(), "azure-emulator-"));
  const certPath = join(dir, "localhost.pem");
  const keyPath = join(dir, "localhost-key.pem");
  try {
    await new Promise<void>((resolve, reject) =>
      execFile(
        openssl,
        [
          "req",
          "-x509",
          "-newkey",
          "rsa:2048",
          "-nodes",
          "-sha256",
          "-days",
          "2",
          "-subj",
          "/CN=localhost",
          "-addext",
          "subjectAltName=DNS:localhost,IP:127.0.0.1",
          "-addext",
          "basicConstraints=critical,CA:TRUE",
          "-addext",
          "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign",
          "-addext",
          "extendedKeyUsage=serverAuth",
          "-keyout",
          keyPath,
          "-out",
          certPath,
        ],
        { timeout: 20_000 },
        (err, _stdout, stderr) => (err ? reject(Object.assign(err, { stderr })) : resolve()),
      ),
    );
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const e = err as NodeJS.ErrnoException & { stderr?: string | Buffer };
    if (e.code === "ENOENT") {
      throw new Error(
        `AzureEmulator needs the \`openssl\` CLI to make its TLS certificate, and '${openssl}' was not found (apt-get install openssl).`,
      );
    }
    throw new Error(`openssl could not make the emulator's certificate: ${e.stderr?.toString() ?? e.message}`);
  }
  return {
    dir,
    certPath,
    keyPath,
    cert: await readFile(certPath),
    key: await readFile(keyPath),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
