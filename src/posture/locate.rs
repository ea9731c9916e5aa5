//! Findings located in the files: the line of the field of the object that
//! causes each finding (`spec.mfa.required` of a policy), or the deepest part
//! of that path that is written (an unset field points at its parent). Uses
//! the validator's locator, which re-parses only the files it is asked about.

use super::Finding;
use crate::load::Source;
use crate::validate::{DesiredOrg, Reporter};

/// Sets the location of every finding whose cause is declared in `org`.
pub fn locate(findings: &mut [Finding], org: &DesiredOrg, sources: &[Source]) {
    let mut reporter = Reporter::new(sources);
    for f in findings {
        let Some(object) = org.objects.get(&(f.cause.kind, f.cause.name.clone())) else {
            continue;
        };
        f.location = Some(if f.field.is_empty() {
            object.origin.location.clone()
        } else {
            reporter.locate(&object.origin, &f.field)
        });
    }
}
