/**
 * A throwaway CA and an agent serving certificate it signed (for 127.0.0.1 and localhost, or the names given), made with the openssl CLI
 * as an operator would, for the TLS tests. Not a test file.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeSelfSignedCert } from '../helpers/self-signed-cert.js';

export interface TestPki {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** A second, unrelated CA: the agent's certificate does not chain to it. */
  otherCaFile: string;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

function makeCa(dir: string, name: string): { cert: string; key: string } {
  const { certFile, keyFile } = makeSelfSignedCert(dir, { name, ca: true });
  return { cert: certFile, key: keyFile };
}

/** The name in the agents' certificate that the manifests' CA ConfigMap gives (`server-name`). */
export const AGENT_SERVER_NAME = 'podflame-agent.podflame.svc';

/** `altNames`: the serving certificate's subjectAltName entries (default IP:127.0.0.1 and DNS:localhost). */
export function makeTestPki(dir: string, altNames: readonly string[] = ['IP:127.0.0.1', 'DNS:localhost']): TestPki {
  const ca = makeCa(dir, 'podflame-test-ca');
  const other = makeCa(dir, 'unrelated-ca');
  const keyFile = join(dir, 'agent.key');
  const csr = join(dir, 'agent.csr');
  const certFile = join(dir, 'agent.crt');
  const ext = join(dir, 'agent.ext');
  writeFileSync(ext, `subjectAltName=${altNames.join(',')}\nextendedKeyUsage=serverAuth\n`);
  openssl([
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-subj',
    '/CN=podflame-agent',
    '-keyout',
    keyFile,
    '-out',
    csr,
  ]);
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    ext,
    '-out',
    certFile,
  ]);
  return { caFile: ca.cert, certFile, keyFile, otherCaFile: other.cert };
}
