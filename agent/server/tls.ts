import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { asPodflameError, PodflameError } from '../../shared/errors.js';

export interface TlsFiles {
  /** PEM certificate chain (`--tls-cert`). */
  certFile?: string | undefined;
  /** PEM private key (`--tls-key`). */
  keyFile?: string | undefined;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
}

/**
 * Reads and checks the agent's certificate and key; undefined when neither is configured (plain HTTP). Both or
 * neither: one without the other is a configuration error, not a silent fallback to HTTP.
 */
export function loadTlsMaterial(files: TlsFiles): TlsMaterial | undefined {
  const { certFile, keyFile } = files;
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    throw new PodflameError(
      'CONFIG_INVALID',
      `HTTPS needs both --tls-cert and --tls-key; only ${certFile === undefined ? '--tls-key' : '--tls-cert'} was given`,
    );
  }
  let material: TlsMaterial;
  try {
    material = { cert: readFileSync(certFile), key: readFileSync(keyFile) };
  } catch (err) {
    throw asPodflameError(err, 'CONFIG_INVALID', 'cannot read the TLS certificate or key');
  }
  try {
    // Fails here, at start-up, for a key that does not match the certificate or a file that is not PEM.
    createSecureContext(material);
  } catch (err) {
    throw asPodflameError(
      err,
      'CONFIG_INVALID',
      `--tls-cert ${certFile} and --tls-key ${keyFile} do not form a usable pair`,
    );
  }
  return material;
}
