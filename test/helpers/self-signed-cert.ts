/**
 * Self-signed certificates for the TLS tests, made with the openssl CLI as an operator would (P-256 keys, valid
 * for two days). Not a test file.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export interface SelfSignedCertSpec {
  /** Subject common name; also the files' base name in `dir`. */
  name: string;
  /** subjectAltName entries, e.g. `IP:127.0.0.1`, `DNS:localhost`. Default none. */
  altNames?: readonly string[];
  /** Marks it as a CA that may sign others (basicConstraints, keyUsage). Default false. */
  ca?: boolean;
}

/** Writes `<dir>/<name>.crt` and `<dir>/<name>.key`, and returns their paths. */
export function makeSelfSignedCert(dir: string, spec: SelfSignedCertSpec): { certFile: string; keyFile: string } {
  const certFile = join(dir, `${spec.name}.crt`);
  const keyFile = join(dir, `${spec.name}.key`);
  const extensions = [
    ...(spec.altNames?.length ? [`subjectAltName=${spec.altNames.join(',')}`] : []),
    ...(spec.ca ? ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign'] : []),
  ];
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2'],
      ...['-subj', `/CN=${spec.name}`],
      ...extensions.flatMap((e) => ['-addext', e]),
      ...['-keyout', keyFile, '-out', certFile],
    ],
    { stdio: 'ignore' },
  );
  return { certFile, keyFile };
}
