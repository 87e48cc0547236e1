//! Test certificates: a CA the test generates, server certificates for 127.0.0.1 and
//! localhost signed by it, client certificates for mutual TLS, and the `certs.d` layout
//! docker and img read them from.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

use crate::error::{Error, ErrorKind, Result};

fn tls_err(e: rcgen::Error) -> Error {
    Error::new(
        ErrorKind::Tls,
        format!("generating a test certificate: {e}"),
    )
}

/// A test certificate authority.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its private key, both PEM.
pub struct CertPair {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
}

impl TestCa {
    /// A fresh CA named `name`.
    pub fn new(name: &str) -> Result<TestCa> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().map_err(tls_err)?;
        let issuer = CertifiedIssuer::self_signed(params, key).map_err(tls_err)?;
        Ok(TestCa { issuer })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for 127.0.0.1, ::1 and localhost.
    pub fn server_cert(&self) -> Result<CertPair> {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).map_err(tls_err)?;
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        params
            .subject_alt_names
            .push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params)
    }

    /// A client certificate for mutual TLS (an ECDSA P-256 key, PKCS#8).
    pub fn client_cert(&self, name: &str) -> Result<CertPair> {
        let key = KeyPair::generate().map_err(tls_err)?;
        self.issue_with(client_params(name)?, key)
    }

    /// A client certificate for a key made elsewhere (`openssl genpkey`): `key_pem` is a
    /// PKCS#8 PEM key (ECDSA, Ed25519 or RSA) and is returned as given.
    pub fn client_cert_for_key(&self, name: &str, key_pem: &str) -> Result<CertPair> {
        let key = KeyPair::from_pem(key_pem).map_err(tls_err)?;
        let mut pair = self.issue_with(client_params(name)?, key)?;
        pair.key_pem = key_pem.to_owned();
        Ok(pair)
    }

    fn issue(&self, params: CertificateParams) -> Result<CertPair> {
        let key = KeyPair::generate().map_err(tls_err)?;
        self.issue_with(params, key)
    }

    fn issue_with(&self, params: CertificateParams, key: KeyPair) -> Result<CertPair> {
        let cert = params.signed_by(&key, &self.issuer).map_err(tls_err)?;
        Ok(CertPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Writes the CA as `<certs_d>/<host>/ca.crt`, the layout docker reads; returns the
    /// directory.
    pub fn write_certs_d(&self, certs_d: &Path, host: &str) -> Result<PathBuf> {
        let dir = certs_d.join(host);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(e, format!("creating {}", dir.display())))?;
        let path = dir.join("ca.crt");
        std::fs::write(&path, self.cert_pem())
            .map_err(|e| Error::io(e, format!("writing {}", path.display())))?;
        Ok(dir)
    }
}

fn client_params(name: &str) -> Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    Ok(params)
}

/// A self-signed signing key and certificate for JWTs (the token server's), with the
/// PKCS#8 DER of its P-256 key for `ring`.
pub struct SigningCert {
    /// The certificate, PEM (the registry's `rootcertbundle`).
    pub cert_pem: String,
    /// The certificate, DER (the JWT header's `x5c`).
    pub cert_der: Vec<u8>,
    /// The private key, PKCS#8 DER.
    pub key_pkcs8: Vec<u8>,
}

impl SigningCert {
    /// A fresh ECDSA P-256 self-signed certificate named `name`.
    pub fn new(name: &str) -> Result<SigningCert> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(tls_err)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
        ];
        let cert = params.self_signed(&key).map_err(tls_err)?;
        Ok(SigningCert {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pkcs8: key.serialize_der(),
        })
    }
}
