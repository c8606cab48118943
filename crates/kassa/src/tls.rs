//! HTTPS: the certificate and key kassa serves (PEM files, read again on `SIGHUP`), and the
//! development CA of `--tls self-signed`.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The certificate and key of an HTTPS listener, swapped in place by [`Tls::reload`]: each new
/// connection takes the current one, connections already open keep theirs.
#[derive(Clone)]
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    current: Arc<RwLock<TlsAcceptor>>,
}

impl Tls {
    /// Reads and checks the certificate chain and key.
    pub fn load(cert: &Path, key: &Path) -> anyhow::Result<Self> {
        let acceptor = acceptor(cert, key)?;
        Ok(Self {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: Arc::new(RwLock::new(acceptor)),
        })
    }

    pub fn acceptor(&self) -> TlsAcceptor {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reads the files again; on any error the certificate in use stays.
    pub fn reload(&self) -> anyhow::Result<()> {
        let acceptor = acceptor(&self.cert, &self.key)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = acceptor;
        Ok(())
    }

    pub fn cert_path(&self) -> &Path {
        &self.cert
    }
}

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read TLS {what} {}", path.display()))
}

/// A rustls server on the `ring` provider: TLS 1.3 and 1.2, ALPN `h2` then `http/1.1`.
///
/// rustls 0.23.48 deprecates `ring` for lacking post-quantum key exchange; `aws-lc-rs`, which
/// has it, is a large C build (ARCHITECTURE.md "HTTPS" weighs the two).
#[allow(deprecated)]
fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let cert_pem = read(cert, "certificate")?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("invalid TLS certificate {}: {e}", cert.display()))?;
    if chain.is_empty() {
        bail!(
            "invalid TLS certificate {}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it",
            cert.display()
        );
    }
    let key_pem = read(key, "key")?;
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        anyhow!(
            "invalid TLS key {}: no PEM private key (PKCS#8, RSA or EC) in it ({e})",
            key.display()
        )
    })?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .context("TLS set-up")?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| {
            anyhow!(
                "TLS key {} does not fit certificate {}: {e}",
                key.display(),
                cert.display()
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The `SIGHUP`s that ask for the certificates to be read again, listened for from before the
/// port is bound (the signal's default action would end the process).
pub struct Hangups(#[cfg(unix)] tokio::signal::unix::Signal);

impl Hangups {
    pub fn listen() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self(
                signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?,
            ))
        }
        #[cfg(not(unix))]
        Ok(Self())
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if self.0.recv().await.is_some() {
            return;
        }
        std::future::pending::<()>().await;
    }
}

/// Reloads every listener's certificate on each `SIGHUP` until `stop` resolves.
pub async fn reload_on_sighup(
    tls: Vec<Tls>,
    mut hangups: Hangups,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            () = hangups.recv() => {
                for tls in &tls {
                    match tls.reload() {
                        Ok(()) => tracing::info!(cert = %tls.cert.display(), "reloaded the TLS certificate"),
                        Err(e) => tracing::error!(
                            error = %format!("{e:#}"),
                            "TLS certificate not reloaded; the previous one stays in use"
                        ),
                    }
                }
            }
        }
    }
}

/// The names every development certificate is for.
pub const DEV_NAMES: &[&str] = &["localhost", "127.0.0.1", "::1"];
/// The development certificate's lifetime: the longest Apple's platforms accept.
const LEAF_DAYS: u64 = 825;
const CA_DAYS: u64 = 3650;
/// A development certificate this close to its end is made again at start.
const RENEW_WITHIN: Duration = Duration::from_secs(30 * 86_400);

/// The development CA and the certificate it signed, as `--tls self-signed` keeps them.
#[derive(Debug)]
pub struct DevCa {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Whether the CA was made by this start (a browser or Node must trust it anew).
    pub created: bool,
    pub names: Vec<String>,
}

impl DevCa {
    /// What kassa prints at start: where the CA is and how Node.js and a browser trust it.
    pub fn banner(&self) -> String {
        let ca = self.ca.display();
        format!(
            "kassa: HTTPS with a development certificate for {names}, signed by the {state} development CA {ca}\n  \
             Node.js trusts it with:  export NODE_EXTRA_CA_CERTS={ca}\n  \
             a browser: import {ca} as a certificate authority (docs/storefront.md)",
            names = self.names.join(", "),
            state = if self.created { "new" } else { "existing" },
        )
    }
}

/// Makes (once) or reuses a local CA in `dir` and a certificate signed by it for
/// [`DEV_NAMES`] and `extra` names. The CA may only sign for the names it was made for
/// (X.509 name constraints), so its key on this disk cannot vouch for any other site.
pub fn dev_ca(dir: &Path, extra: &[String]) -> anyhow::Result<DevCa> {
    let mut names: Vec<String> = DEV_NAMES.iter().map(|n| (*n).to_owned()).collect();
    for name in extra {
        let name = name.trim().to_ascii_lowercase();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    for name in &names {
        if name.parse::<IpAddr>().is_err() && rcgen::string::Ia5String::try_from(name.as_str()).is_err() {
            bail!("invalid TLS name {name:?}: give a host name or an IP address");
        }
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot make the development CA directory {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot use the development CA directory {}", dir.display()))?;
    let paths = DevPaths::in_dir(&dir);

    let (ca_key, created) = if paths.ca.exists() && paths.ca_key.exists() {
        let pem = std::fs::read_to_string(&paths.ca_key)
            .with_context(|| format!("cannot read {}", paths.ca_key.display()))?;
        let key = rcgen::KeyPair::from_pem(&pem)
            .map_err(|e| anyhow!("invalid development CA key {}: {e}", paths.ca_key.display()))?;
        (key, false)
    } else {
        let key = rcgen::KeyPair::generate().map_err(|e| anyhow!("cannot make a key: {e}"))?;
        let mut params = ca_params();
        let now = SystemTime::now();
        params.not_before = (now - Duration::from_secs(86_400)).into();
        params.not_after = (now + Duration::from_secs(CA_DAYS * 86_400)).into();
        params.name_constraints = Some(rcgen::NameConstraints {
            permitted_subtrees: permitted(&names),
            excluded_subtrees: Vec::new(),
        });
        let cert = params
            .self_signed(&key)
            .map_err(|e| anyhow!("cannot make the development CA: {e}"))?;
        write_file(&paths.ca_key, key.serialize_pem().as_bytes(), true)?;
        write_file(&paths.ca_names, (names.join("\n") + "\n").as_bytes(), false)?;
        write_file(&paths.ca, cert.pem().as_bytes(), false)?;
        // A new CA: any certificate lying around was signed by another.
        let _ = std::fs::remove_file(&paths.cert);
        (key, true)
    };

    let allowed = std::fs::read_to_string(&paths.ca_names).unwrap_or_default();
    let allowed: Vec<&str> = allowed.lines().filter(|l| !l.is_empty()).collect();
    if let Some(outside) = names.iter().find(|n| !covered(n, &allowed)) {
        bail!(
            "the development CA in {dir} may only sign for {allowed}, not {outside:?}: delete {dir} to make a new CA \
             for these names (and trust the new one)",
            dir = dir.display(),
            allowed = allowed.join(", "),
        );
    }

    if !leaf_is_current(&paths, &names) {
        let key = rcgen::KeyPair::generate().map_err(|e| anyhow!("cannot make a key: {e}"))?;
        let mut params =
            rcgen::CertificateParams::new(names.clone()).map_err(|e| anyhow!("invalid TLS name: {e}"))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "kassa development certificate");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "kassa development");
        let now = SystemTime::now();
        let not_after = now + Duration::from_secs(LEAF_DAYS * 86_400);
        params.not_before = (now - Duration::from_secs(86_400)).into();
        params.not_after = not_after.into();
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let issuer = rcgen::Issuer::new(ca_params(), ca_key);
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(|e| anyhow!("cannot sign the development certificate: {e}"))?;
        write_file(&paths.key, key.serialize_pem().as_bytes(), true)?;
        write_file(&paths.cert, cert.pem().as_bytes(), false)?;
        let until = not_after.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        write_file(
            &paths.names,
            format!("{until}\n{}\n", names.join("\n")).as_bytes(),
            false,
        )?;
    }
    Ok(DevCa {
        ca: paths.ca,
        cert: paths.cert,
        key: paths.key,
        created,
        names,
    })
}

struct DevPaths {
    ca: PathBuf,
    ca_key: PathBuf,
    ca_names: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    /// The certificate's end (Unix seconds) and names, one a line.
    names: PathBuf,
}

impl DevPaths {
    fn in_dir(dir: &Path) -> Self {
        Self {
            ca: dir.join("ca.pem"),
            ca_key: dir.join("ca-key.pem"),
            ca_names: dir.join("ca-names.txt"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            names: dir.join("cert-names.txt"),
        }
    }
}

/// The CA's subject and key usages: the same every time, so a certificate signed at a later
/// start names the CA that is on disk.
fn ca_params() -> rcgen::CertificateParams {
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "kassa development CA");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "kassa development");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// Name constraints: each DNS name with its subdomains, loopback, and each IP address given.
fn permitted(names: &[String]) -> Vec<rcgen::GeneralSubtree> {
    let mut subtrees = vec![
        rcgen::GeneralSubtree::IpAddress(rcgen::CidrSubnet::from_v4_prefix([127, 0, 0, 0], 8)),
        rcgen::GeneralSubtree::IpAddress(rcgen::CidrSubnet::from_addr_prefix(
            IpAddr::from([0, 0, 0, 0, 0, 0, 0, 1]),
            128,
        )),
    ];
    for name in names {
        match name.parse::<IpAddr>() {
            Ok(ip) if ip.is_loopback() => {}
            Ok(ip) => subtrees.push(rcgen::GeneralSubtree::IpAddress(
                rcgen::CidrSubnet::from_addr_prefix(ip, if ip.is_ipv4() { 32 } else { 128 }),
            )),
            Err(_) => subtrees.push(rcgen::GeneralSubtree::DnsName(name.clone())),
        }
    }
    subtrees
}

/// Whether a CA made for `allowed` may sign for `name` (the rule of [`permitted`]).
fn covered(name: &str, allowed: &[&str]) -> bool {
    match name.parse::<IpAddr>() {
        Ok(ip) => {
            (ip.is_ipv4() && ip.is_loopback())
                || ip == IpAddr::from([0, 0, 0, 0, 0, 0, 0, 1])
                || allowed.iter().any(|a| a.parse::<IpAddr>().is_ok_and(|a| a == ip))
        }
        Err(_) => allowed
            .iter()
            .any(|a| a.parse::<IpAddr>().is_err() && (name == *a || name.ends_with(&format!(".{a}")))),
    }
}

/// The certificate on disk is for exactly these names and not near its end.
fn leaf_is_current(paths: &DevPaths, names: &[String]) -> bool {
    if !paths.cert.exists() || !paths.key.exists() {
        return false;
    }
    let Ok(meta) = std::fs::read_to_string(&paths.names) else {
        return false;
    };
    let mut lines = meta.lines();
    let until = lines.next().and_then(|l| l.parse::<u64>().ok()).unwrap_or(0);
    let on_disk: BTreeSet<&str> = lines.filter(|l| !l.is_empty()).collect();
    let wanted: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let renew_at = SystemTime::now() + RENEW_WITHIN;
    on_disk == wanted && UNIX_EPOCH + Duration::from_secs(until) > renew_at
}

fn write_file(path: &Path, bytes: &[u8], private: bool) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_covers_what_it_was_made_for() {
        let allowed = ["localhost", "127.0.0.1", "::1", "shop.test", "10.1.2.3"];
        for name in [
            "localhost",
            "api.localhost",
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "shop.test",
            "a.shop.test",
            "10.1.2.3",
        ] {
            assert!(covered(name, &allowed), "{name}");
        }
        for name in [
            "example.com",
            "notshop.test",
            "10.1.2.4",
            "::2",
            "localhost.example.com",
        ] {
            assert!(!covered(name, &allowed), "{name}");
        }
    }
}
