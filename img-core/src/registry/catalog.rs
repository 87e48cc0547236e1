//! Walking a registry's catalog (`/v2/_catalog`) page by page, stopping as soon as the
//! caller has what it wants: a search with `--limit 3` of a catalog of thousands reads
//! one page, not all of them.

use serde::Deserialize;

use super::auth::Scope;
use super::client::RegistryClient;
use crate::error::{Error, ErrorKind, Result};

#[derive(Deserialize)]
struct CatalogPage {
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

impl RegistryClient {
    /// Hands each repository of the catalog to `visit`, in the registry's order, page by
    /// page (`n` is `ClientOptions::list_page_size` when set), until `visit` answers false.
    /// Token auth asks for the `registry:catalog:*` scope.
    pub fn catalog_each(&self, mut visit: impl FnMut(&str) -> bool) -> Result<()> {
        let ctx = || format!("listing the catalog of {}", self.host());
        let page_size = self.options().list_page_size;
        self.walk_pages("/v2/_catalog", Scope::Catalog, page_size, |body| {
            let page: CatalogPage = serde_json::from_slice(body).map_err(|e| {
                Error::new(
                    ErrorKind::Registry,
                    format!("the catalog is not the JSON expected: {e}"),
                )
            })?;
            for repository in page.repositories.unwrap_or_default() {
                if !visit(&repository) {
                    return Ok(false);
                }
            }
            Ok(true)
        })
        .map_err(|e| e.context(ctx()))
    }
}
