//! Checks of free-text values that have a shape: organization domains and the
//! URLs of applications and identity providers. They are plain strings in the
//! model (the backend stores them as written), so their rules live here and
//! apply to files and to writes sent to `orgctl serve` alike.

use super::{DesiredObject, Reporter};
use crate::model::{
    check_domain, ApplicationSpec, Collection, Field, IdentityProviderSpec, OrganizationSpec,
};

/// Why `url` is not an absolute http(s) URL with a host, if it is not.
/// Other schemes (`javascript:`, `data:`, `file:`, custom app schemes) are
/// refused: a sign-in flow must only ever send people and tokens to the web.
pub(crate) fn http_url_problem(url: &str) -> Option<String> {
    let Some((scheme, rest)) = url.split_once(':') else {
        return Some(format!(
            "invalid URL {url:?}: expected an absolute http(s) URL such as https://app.acme.example/callback"
        ));
    };
    let scheme_lower = scheme.to_ascii_lowercase();
    if scheme_lower != "http" && scheme_lower != "https" {
        return Some(format!(
            "URL {url:?} has the scheme {scheme:?}; only http and https are allowed"
        ));
    }
    let host = rest
        .strip_prefix("//")
        .map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
    match host {
        Some(h) if !h.is_empty() && !url.chars().any(char::is_whitespace) => None,
        _ => Some(format!(
            "invalid URL {url:?}: expected an absolute http(s) URL such as https://app.acme.example/callback"
        )),
    }
}

fn url_field(r: &mut Reporter, obj: &DesiredObject, path: &str, value: &Field<String>) {
    if let Some(problem) = value.get().and_then(|v| http_url_problem(v)) {
        r.at(&obj.origin, path, problem);
    }
}

fn each_item(c: &Field<Collection<String>>) -> impl Iterator<Item = &String> {
    c.get().into_iter().flat_map(|c| c.items.iter())
}

/// An organization's verified domains are domain names.
pub(crate) fn check_organization(r: &mut Reporter, obj: &DesiredObject, o: &OrganizationSpec) {
    for domain in each_item(&o.domains) {
        if let Err(why) = check_domain(&domain.to_ascii_lowercase()) {
            r.at_item(
                &obj.origin,
                "spec.domains",
                domain,
                format!("invalid domain {domain:?}: {why}"),
            );
        }
    }
}

/// An application's redirect URIs and assertion consumer URL are http(s).
pub(crate) fn check_application(r: &mut Reporter, obj: &DesiredObject, a: &ApplicationSpec) {
    if let Some(oidc) = a.oidc.get() {
        for uri in each_item(&oidc.redirect_uris) {
            let problem = http_url_problem(uri).or_else(|| {
                // OAuth 2.0 (RFC 6749 §3.1.2): the redirection endpoint URI
                // must not include a fragment component.
                uri.contains('#')
                    .then(|| format!("redirect URI {uri:?} has a fragment (#…); redirect URIs must not"))
            });
            if let Some(problem) = problem {
                r.at_item(&obj.origin, "spec.oidc.redirectUris", uri, problem);
            }
        }
    }
    if let Some(saml) = a.saml.get() {
        url_field(r, obj, "spec.saml.acsUrl", &saml.acs_url);
    }
}

/// An identity provider's issuer and SAML endpoints are http(s).
pub(crate) fn check_identity_provider(r: &mut Reporter, obj: &DesiredObject, i: &IdentityProviderSpec) {
    url_field(r, obj, "spec.issuer", &i.issuer);
    if let Some(saml) = i.saml.get() {
        url_field(r, obj, "spec.saml.ssoUrl", &saml.sso_url);
        url_field(r, obj, "spec.saml.sloUrl", &saml.slo_url);
    }
}

#[cfg(test)]
mod tests {
    use super::http_url_problem;

    #[test]
    fn only_absolute_http_urls_with_a_host_pass() {
        assert_eq!(http_url_problem("https://wiki.acme.example/callback"), None);
        assert_eq!(http_url_problem("HTTP://localhost:8080/cb"), None);
        assert_eq!(
            http_url_problem("javascript:alert(1)").as_deref(),
            Some(
                "URL \"javascript:alert(1)\" has the scheme \"javascript\"; only http and https are allowed"
            )
        );
        assert!(http_url_problem("https:///callback").is_some());
        assert!(http_url_problem("/callback").is_some());
        assert!(http_url_problem("https://a b.example/").is_some());
    }
}
