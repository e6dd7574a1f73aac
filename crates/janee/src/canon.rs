// placeholder until the canonicaliser lands
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule(String);
impl Rule {
    pub fn parse(t: &str) -> Result<Rule, String> {
        Ok(Rule(t.to_string()))
    }
    pub fn as_text(&self) -> String {
        self.0.clone()
    }
}
pub fn canonicalize(raw: &str) -> Result<String, String> {
    Ok(raw.to_string())
}
