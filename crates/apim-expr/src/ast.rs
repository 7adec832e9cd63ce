//! The C# subset's syntax tree. Every node carries the byte range of its source in the expression text.

use crate::Range;

/// A type as written: `string`, `JObject`, `Dictionary<string, int>`, `string[]`, `int?`, `System.Text.Encoding`.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeRef {
    /// Dotted name as written (`System.String`, `int`).
    pub name: String,
    pub args: Vec<TypeRef>,
    /// Number of `[]` suffixes.
    pub array: usize,
    pub nullable: bool,
    pub range: Range,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    UInt(u64),
    Double(f64),
    Decimal(f64),
    Char(char),
    Str(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Shl,
    Shr,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    BitAnd,
    BitOr,
    BitXor,
    And,
    Or,
    Coalesce,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Plus,
    Not,
    Compl,
    PreInc,
    PreDec,
    PostInc,
    PostDec,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub name: Option<String>,
    /// `out var x`, `out string x`, `out x`, `ref x`.
    pub out: Option<OutArg>,
    pub value: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OutArg {
    /// `out x` / `ref x`: an existing variable.
    Existing,
    /// `out var x` / `out T x`: declares `x`.
    Declare(Option<TypeRef>, String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Init {
    /// `{ a, b }` or `{ { k, v }, … }`
    Collection(Vec<Vec<Expr>>),
    /// `{ Name = v, … }`
    Object(Vec<(String, Range, Expr)>),
    /// `{ [k] = v, … }`
    Indexed(Vec<(Expr, Expr)>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum LambdaBody {
    Expr(Box<Expr>),
    Block(Vec<Stmt>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub range: Range,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Lit(Lit),
    /// `$"…"`: text pieces and (expression, alignment, format) holes.
    Interp(Vec<InterpPart>),
    /// A simple name: a local, `context`, a type or a namespace part.
    Name(String),
    /// A predefined type keyword used as an expression (`string.Join`, `int.Parse`).
    TypeKeyword(String),
    Member {
        target: Box<Expr>,
        name: String,
        name_range: Range,
        type_args: Vec<TypeRef>,
    },
    Call {
        callee: Box<Expr>,
        args: Vec<Arg>,
    },
    Index {
        target: Box<Expr>,
        args: Vec<Expr>,
    },
    /// `target?.chain`: `chain` refers to the target through `CondTarget`.
    CondAccess {
        target: Box<Expr>,
        chain: Box<Expr>,
    },
    CondTarget,
    Unary {
        op: UnOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    Assign {
        op: Option<BinOp>,
        target: Box<Expr>,
        value: Box<Expr>,
    },
    Conditional {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    Cast {
        ty: TypeRef,
        operand: Box<Expr>,
    },
    As {
        operand: Box<Expr>,
        ty: TypeRef,
    },
    Is {
        operand: Box<Expr>,
        ty: IsPattern,
    },
    Lambda {
        params: Vec<(Option<TypeRef>, String)>,
        body: LambdaBody,
    },
    New {
        ty: TypeRef,
        args: Vec<Arg>,
        init: Option<Init>,
    },
    /// `new T[n]`, `new T[] { … }`, `new [] { … }`
    NewArray {
        elem: Option<TypeRef>,
        size: Option<Box<Expr>>,
        items: Vec<Expr>,
    },
    /// `new { a = 1, b }`
    AnonObject(Vec<(String, Expr)>),
    Default(Option<TypeRef>),
    TypeOf(TypeRef),
    NameOf(String),
    /// `x switch { … }` is not supported; nothing else produces this.
    Throw(Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum IsPattern {
    Type(TypeRef, Option<String>),
    Null,
    NotNull,
    Const(Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum InterpPart {
    Text(String),
    Hole {
        expr: Expr,
        alignment: Option<i32>,
        format: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub range: Range,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Catch {
    pub ty: Option<TypeRef>,
    pub name: Option<String>,
    pub filter: Option<Expr>,
    pub body: Vec<Stmt>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SwitchSection {
    /// `None` is `default:`.
    pub labels: Vec<Option<Expr>>,
    pub body: Vec<Stmt>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StmtKind {
    /// `T a = 1, b;` / `var a = 1;` (`ty` is `None` for `var`).
    Local {
        ty: Option<TypeRef>,
        decls: Vec<(String, Range, Option<Expr>)>,
    },
    Expr(Expr),
    Block(Vec<Stmt>),
    If {
        cond: Expr,
        then: Box<Stmt>,
        otherwise: Option<Box<Stmt>>,
    },
    While {
        cond: Expr,
        body: Box<Stmt>,
    },
    DoWhile {
        body: Box<Stmt>,
        cond: Expr,
    },
    For {
        init: Vec<Stmt>,
        cond: Option<Expr>,
        step: Vec<Expr>,
        body: Box<Stmt>,
    },
    Foreach {
        ty: Option<TypeRef>,
        name: String,
        collection: Expr,
        body: Box<Stmt>,
    },
    Switch {
        subject: Expr,
        sections: Vec<SwitchSection>,
    },
    Break,
    Continue,
    Return(Option<Expr>),
    Throw(Option<Expr>),
    Try {
        body: Vec<Stmt>,
        catches: Vec<Catch>,
        finally: Option<Vec<Stmt>>,
    },
    /// `using (var x = …) stmt`: disposal has no observable effect here.
    Using {
        decl: Box<Stmt>,
        body: Box<Stmt>,
    },
    Empty,
}
