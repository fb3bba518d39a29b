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

// ---------------------------------------------------------------------------------------------------------------
// Client certificates: issued by the console from the private CA, one per source; a module may require one
// (`tlsClientCert`). rsync-ssl presents one with RSYNC_SSL_CERT / RSYNC_SSL_KEY, the agent with a remote's
// `clientCert` / `clientKey`.
// ---------------------------------------------------------------------------------------------------------------

export interface TlsClientCertDto {
  id: number;
  /** Who the certificate is for (a source's name, e.g. its host name); also the certificate's subject CN. */
  name: string;
  /** `sha256:abcd...` of the certificate (DER). */
  fingerprint: string;
  /** Hex serial number. */
  serial: string;
  notBefore: string;
  notAfter: string;
  createdAt: string;
  /** The admin who issued it. */
  createdBy: string;
  /** Set when revoked: the TLS listener refuses it from then on. */
  revokedAt: string | null;
}

export interface CreateTlsClientCertRequest {
  /** 1-64 characters: letters, digits, `.`, `_`, `-`; unique among certificates not revoked. */
  name: string;
  /**
   * A PKCS#10 certificate request (PEM) made on the source, so its private key never leaves it (recommended:
   * `openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client.key -subj /CN=web01`).
   * Without one the server makes the key pair and returns the key once, in this response only.
   */
  csr?: string;
  /** Validity in days, 1-3650; default 825. */
  days?: number;
}

export interface CreatedTlsClientCertDto extends TlsClientCertDto {
  /** The issued certificate (PEM): RSYNC_SSL_CERT / a remote's `clientCert`. */
  certificate: string;
  /** The CA that issued it, which is also the CA sources trust for the server (PEM). */
  caCertificate: string;
  /** Only when no `csr` was sent: the private key (PEM, PKCS#8). Shown once, never stored. */
  privateKey?: string;
}
