/**
 * A throwaway self-signed certificate for "localhost"/127.0.0.1, made with the openssl CLI
 * into a private temp dir. Missing openssl is an error (the suites must fail, not skip).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
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

export function makeLocalhostCert(): TlsMaterial {
  const dir = mkdtempSync(join(tmpdir(), "azure-emulator-"));
  const certPath = join(dir, "localhost.pem");
  const keyPath = join(dir, "localhost-key.pem");
  try {
    execFileSync(
      "openssl",
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
      { stdio: ["ignore", "ignore", "pipe"], timeout: 20_000 },
    );
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === "ENOENT") {
      throw new Error(
        "AzureEmulator needs the `openssl` CLI to make its TLS certificate, and it is not on PATH (apt-get install openssl).",
      );
    }
    throw new Error(`openssl could not make the emulator's certificate: ${e.stderr?.toString() ?? e.message}`);
  }
  return {
    dir,
    certPath,
    keyPath,
    cert: readFileSync(certPath),
    key: readFileSync(keyPath),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
