//! dpkg's status database (`var/lib/dpkg/status`, and distroless images' `status.d/*`).

use super::inventory::{Ecosystem, Package};

/// Parses a status file: RFC 822 paragraphs; only installed packages count (a paragraph without `Status`, as in
/// `status.d`, is installed).
pub fn parse(text: &str, path: &str, ecosystem: Ecosystem) -> Vec<Package> {
    let mut out = Vec::new();
    for paragraph in text.split("\n\n") {
        let (mut name, mut version, mut source, mut status) = (None, None, None, None);
        for line in paragraph.lines() {
            if line.starts_with([' ', '\t']) {
                continue; // continuation of a multi-line field
            }
            let Some((key, value)) = line.split_once(':') else { continue };
            let value = value.trim();
            match key {
                "Package" => name = Some(value.to_string()),
                "Version" => version = Some(value.to_string()),
                "Source" => source = Some(value.split_whitespace().next().unwrap_or(value).to_string()),
                "Status" => status = Some(value.to_string()),
                _ => {}
            }
        }
        let installed = status.as_deref().is_none_or(|s| s.split_whitespace().nth(2) == Some("installed"));
        if let (Some(name), Some(version), true) = (name, version, installed) {
            // `Source: name (version)` means the source package has another version; the binary's is what counts.
            let source = source.filter(|s| s != &name);
            out.push(Package { ecosystem, name, source, version, path: path.to_string() });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_installed_packages_with_sources() {
        let text = "Package: libssl3\nStatus: install ok installed\nSource: openssl (3.0.11-1)\nVersion: 3.0.11-1~deb12u2\nDescription: x\n more text\n\nPackage: removed\nStatus: deinstall ok config-files\nVersion: 1.0\n\nPackage: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\n";
        let pkgs = parse(text, "var/lib/dpkg/status", Ecosystem::Debian);
        assert_eq!(pkgs.len(), 2);
        assert_eq!(
            (pkgs[0].name.as_str(), pkgs[0].source.as_deref(), pkgs[0].version.as_str()),
            ("libssl3", Some("openssl"), "3.0.11-1~deb12u2")
        );
        assert_eq!((pkgs[1].name.as_str(), pkgs[1].source.as_deref()), ("bash", None));
        let distroless =
            parse("Package: tzdata\nVersion: 2024a-0+deb12u1\n", "var/lib/dpkg/status.d/tzdata", Ecosystem::Debian);
        assert_eq!(distroless.len(), 1);
    }
}
