//! `choose`: the first `when` whose condition is true runs, else `otherwise` (reference 02).

use apim_policy::policies::choose as ast;

use crate::Plan;
use crate::compile::{Compiler, Cv, Step};
use crate::run::{Exchange, Flow, PolicyError, Runtime, eval, run_steps};

pub struct Choose {
    whens: Vec<(Cv<bool>, Vec<Step>)>,
    otherwise: Option<Vec<Step>>,
}

impl Choose {
    /// The steps of every branch.
    pub(crate) fn blocks(&self) -> impl Iterator<Item = &[Step]> {
        self.whens
            .iter()
            .map(|(_, steps)| steps.as_slice())
            .chain(self.otherwise.as_deref())
    }
}

pub(crate) fn compile(c: &mut Compiler, p: &ast::Choose, path: &str) -> Option<Choose> {
    let mut whens = Vec::new();
    for (i, w) in p.whens.iter().enumerate() {
        let condition = c.value(&w.condition)?;
        whens.push((
            condition,
            c.block(&w.content.0, &format!("{path}/when[{}]", i + 1)),
        ));
    }
    let otherwise = p
        .otherwise
        .as_ref()
        .map(|o| c.block(&o.content.0, &format!("{path}/otherwise[1]")));
    Some(Choose { whens, otherwise })
}

pub(crate) async fn run(
    p: &Choose,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    for (i, (condition, steps)) in p.whens.iter().enumerate() {
        // Azure: conditions are evaluated in order; later ones are not evaluated once one is true.
        if eval(condition, ex, rt, plan, "condition")? {
            note!(ex, format!("choose: when[{}] is true", i + 1));
            return run_steps(steps, ex, rt, plan).await;
        }
    }
    match &p.otherwise {
        Some(steps) => {
            note!(ex, "choose: otherwise".into());
            run_steps(steps, ex, rt, plan).await
        }
        None => Ok(Flow::Continue),
    }
}
