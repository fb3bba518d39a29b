// ---------------------------------------------------------------------------------------------------------------
// TLS: the rsync-over-TLS listener (rsync-ssl, the agent with `tls: true`) and its certificates (issue 11)
// ---------------------------------------------------------------------------------------------------------------

export interface TlsCertificateDto {
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  dnsNames: string[];
  ipAddresses: string[];
  /** `AB:CD:...` (what `openssl x509 -fingerprint -sha256` prints). */
  fingerprint256: string;
  /** `sha256:abcd...`: the form an agent remote's `fingerprint` takes. */
  fingerprint: string;
}

export interface TlsStatusDto {
  /** The console setting (PUT /api/v1/tls). */
  enabled: boolean;
  /** RSYNCHUB_RSYNC_TLS_PORT; the address is the plain daemon's. */
  port: number;
  address: string;
  /** The listener accepts connections and its daemon runs. */
  listening: boolean;
  /** Why it is not listening, or the last problem (certificate reload refused, daemon crash). */
  lastError: string | null;
  /** `private-ca`: generated in the data dir; `provided`: RSYNCHUB_TLS_CERT / RSYNCHUB_TLS_KEY. */
  certificateSource: 'private-ca' | 'provided';
  /** The certificate the listener presents (the leaf). */
  certificate: TlsCertificateDto | null;
  /** The private CA sources trust (GET /api/v1/tls/ca.pem); null with a provided certificate. */
  ca: TlsCertificateDto | null;
  /** Connections accepted / refused in the TLS handshake since start. */
  connections: { accepted: number; handshakeFailures: number; active: number };
  /**
   * What terminates TLS: `native` (the C front, rsynchub-tls-front) or `node` (the fallback: RSYNCHUB_TLS_FRONT=node,
   * or the native front not built); `why` says why Node runs; `restarts` counts native fronts that died and came back.
   */
  front: { kind: 'native' | 'node'; why: string | null; restarts: number };
}

export interface UpdateTlsRequest {
  enabled: boolean;
}
