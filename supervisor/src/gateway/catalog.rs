//! What the client sees: every server's tools and prompts under `server__name`, and their
//! resources (whose URIs are kept, each owned by one server). Built from each server's screened
//! lists ([`Lists`]) whenever one changes; two servers offering the same resource URI, or a
//! server listing one name twice, is a [`Collision`] (an error at start, and afterwards the
//! server's later list is not taken).

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

/// Separates the server's name from the tool's or prompt's.
pub const SEPARATOR: &str = "__";
/// Longest tool name MCP clients accept.
const NAME_MAX: usize = 128;

/// One server's lists as last fetched and screened.
#[derive(Debug, Clone, Default)]
pub struct Lists {
    pub tools: Vec<Value>,
    pub prompts: Vec<Value>,
    pub resources: Vec<Value>,
    pub templates: Vec<Value>,
    /// Tools left out by screening (block mode): name → the rules that fired.
    pub withheld: BTreeMap<String, String>,
}

/// The namespaced name of `item` of `server`.
pub fn namespaced(server: &str, item: &str) -> String {
    format!("{server}{SEPARATOR}{item}")
}

/// `server__item` → (`server`, `item`). Server names hold no `_`, so the first separator is it.
pub fn split(name: &str) -> Option<(&str, &str)> {
    name.split_once(SEPARATOR)
        .filter(|(s, i)| !s.is_empty() && !i.is_empty())
}

/// Two things the client would see under one name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what} `{name}` is offered twice ({first} and {second}); rename or drop one (an MCP client cannot tell them apart)"
)]
pub struct Collision {
    pub what: &'static str,
    pub name: String,
    pub first: String,
    pub second: String,
}

/// The aggregate.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub tools: Vec<Value>,
    pub prompts: Vec<Value>,
    pub resources: Vec<Value>,
    pub templates: Vec<Value>,
    /// Resource URI → server index.
    resource_owner: HashMap<String, usize>,
    /// A template's literal prefix (up to its first `{`) → server index, longest first.
    template_owner: Vec<(String, usize)>,
}

/// One server's part: its name, lists and allowed tools.
#[derive(Debug)]
pub struct Part<'a> {
    pub server: &'a str,
    pub lists: &'a Lists,
    pub allowed: Option<&'a [String]>,
}

impl Catalog {
    pub fn build(parts: &[Part<'_>]) -> Result<Catalog, Collision> {
        let mut catalog = Catalog::default();
        let mut seen: HashMap<(&'static str, String), String> = HashMap::new();
        let mut claim = |what: &'static str, name: String, owner: String| match seen
            .insert((what, name.clone()), owner.clone())
        {
            Some(first) => Err(Collision {
                what,
                name,
                first,
                second: owner,
            }),
            None => Ok(()),
        };
        for (index, part) in parts.iter().enumerate() {
            let owner = format!("server `{}`", part.server);
            for tool in &part.lists.tools {
                let Some(name) = tool.get("name").and_then(Value::as_str) else {
                    continue;
                };
                if part.allowed.is_some_and(|a| !a.iter().any(|t| t == name)) {
                    continue;
                }
                let full = namespaced(part.server, name);
                if full.len() > NAME_MAX {
                    tracing::warn!(
                        "mcp-gateway: tool `{full}` is longer than {NAME_MAX} characters; left out"
                    );
                    continue;
                }
                claim("tool", full.clone(), owner.clone())?;
                catalog.tools.push(renamed(tool, &full));
            }
            for prompt in &part.lists.prompts {
                let Some(name) = prompt.get("name").and_then(Value::as_str) else {
                    continue;
                };
                let full = namespaced(part.server, name);
                claim("prompt", full.clone(), owner.clone())?;
                catalog.prompts.push(renamed(prompt, &full));
            }
            for resource in &part.lists.resources {
                let Some(uri) = resource.get("uri").and_then(Value::as_str) else {
                    continue;
                };
                claim("resource", uri.to_string(), owner.clone())?;
                catalog.resource_owner.insert(uri.to_string(), index);
                catalog.resources.push(labelled(resource, part.server));
            }
            for template in &part.lists.templates {
                let Some(uri) = template.get("uriTemplate").and_then(Value::as_str) else {
                    continue;
                };
                claim("resource template", uri.to_string(), owner.clone())?;
                let prefix = uri.split('{').next().unwrap_or_default().to_string();
                catalog.template_owner.push((prefix, index));
                catalog.templates.push(labelled(template, part.server));
            }
        }
        catalog
            .template_owner
            .sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        Ok(catalog)
    }

    /// The server that serves resource `uri`: its listed owner, else the server whose template
    /// has the longest matching literal prefix.
    pub fn resource_server(&self, uri: &str) -> Option<usize> {
        self.resource_owner.get(uri).copied().or_else(|| {
            self.template_owner
                .iter()
                .find(|(prefix, _)| !prefix.is_empty() && uri.starts_with(prefix.as_str()))
                .map(|(_, i)| *i)
        })
    }
}

fn renamed(item: &Value, name: &str) -> Value {
    let mut item = item.clone();
    item["name"] = json!(name);
    item
}

/// A resource keeps its URI; its name says which server it comes from.
fn labelled(item: &Value, server: &str) -> Value {
    let mut item = item.clone();
    if let Some(name) = item.get("name").and_then(Value::as_str) {
        item["name"] = json!(namespaced(server, name));
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists(tools: &[&str]) -> Lists {
        Lists {
            tools: tools
                .iter()
                .map(|t| json!({"name": t, "inputSchema": {"type": "object"}}))
                .collect(),
            ..Lists::default()
        }
    }

    #[test]
    fn tools_are_namespaced_filtered_and_collisions_refused() {
        let (a, b) = (lists(&["read", "write"]), lists(&["read"]));
        let allowed = vec!["read".to_string()];
        let c = Catalog::build(&[
            Part {
                server: "fs",
                lists: &a,
                allowed: Some(&allowed),
            },
            Part {
                server: "git",
                lists: &b,
                allowed: None,
            },
        ])
        .unwrap();
        let names: Vec<&str> = c
            .tools
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["fs__read", "git__read"]);
        assert_eq!(split("fs__read_file"), Some(("fs", "read_file")));
        assert_eq!(split("a__b__c"), Some(("a", "b__c")));
        assert_eq!(split("plain"), None);
        let twice = lists(&["x", "x"]);
        let e = Catalog::build(&[Part {
            server: "s",
            lists: &twice,
            allowed: None,
        }])
        .unwrap_err();
        assert_eq!(e.name, "s__x");
    }

    #[test]
    fn resources_are_routed_by_uri_and_template_prefix() {
        let a = Lists {
            resources: vec![json!({"uri": "file:///a/readme", "name": "readme"})],
            ..Lists::default()
        };
        let b = Lists {
            templates: vec![json!({"uriTemplate": "git://repo/{path}", "name": "file"})],
            ..Lists::default()
        };
        let c = Catalog::build(&[
            Part {
                server: "a",
                lists: &a,
                allowed: None,
            },
            Part {
                server: "b",
                lists: &b,
                allowed: None,
            },
        ])
        .unwrap();
        assert_eq!(c.resource_server("file:///a/readme"), Some(0));
        assert_eq!(c.resource_server("git://repo/src/x"), Some(1));
        assert_eq!(c.resource_server("http://x"), None);
        let e = Catalog::build(&[
            Part {
                server: "a",
                lists: &a,
                allowed: None,
            },
            Part {
                server: "c",
                lists: &a,
                allowed: None,
            },
        ])
        .unwrap_err();
        assert_eq!(e.what, "resource");
    }
}
