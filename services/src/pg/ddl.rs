//! CREATE SCHEMA, CREATE TABLE and CREATE [UNIQUE] INDEX: AST to catalog entries, with
//! PostgreSQL's generated names (`<table>_pkey`, `<table>_<col>_key`, `<table>_<col>_fkey`,
//! `<table>_<col>_seq`, `<table>_<parts>_idx`, shortened to 63 bytes as makeObjectName does)
//! and the checks PostgreSQL makes of a definition (duplicate columns, two primary keys, a
//! key column twice, defaults, identity columns, foreign-key column types).
//!
//! `DEFERRABLE` / `INITIALLY DEFERRED` / `INITIALLY IMMEDIATE` on PRIMARY KEY, UNIQUE and
//! REFERENCES are recorded as the constraint's [`Deferral`] (`deferred.rs` runs the checks).
//! Expression and partial unique indexes are keyed through `ComputedKey` (`index_expr.rs`
//! judges their expressions; `index_build.rs` checks existing rows).
//! Not modelled, each refused with 0A000 rather than approximated: CHECK, ON UPDATE actions
//! other than NO ACTION, partitioning and inheritance, storage parameters, TEMPORARY and
//! UNLOGGED tables, identity sequence options. Differs: a generated constraint name that is
//! taken is 42P07 here, where PostgreSQL appends a number (`_key1`; index and sequence names
//! do get it here too).
//! Accepted because they do not change what a unique key accepts: an index's access method,
//! column order (ASC/DESC, NULLS FIRST/LAST) and operator class, CONCURRENTLY, a
//! constraint's INCLUDE columns.
//! DROP TABLE and TRUNCATE live in `drop.rs` (see its header for what is modelled of them:
//! CASCADE drops the referencing foreign keys; both wait for ACCESS EXCLUSIVE, see
//! `statement_locks`). Other DROP kinds (DROP INDEX,
//! DROP SEQUENCE, DROP SCHEMA, …) and ALTER are 0A000 (`route`).
//! Invariant: a CREATE TABLE either adds the whole table or changes nothing.

use sqlparser::ast::helpers::stmt_create_table::CreateTableBuilder;
use sqlparser::ast::{self, ColumnOption, TableConstraint};

use super::catalog::{
    fold_ident, make_object_name, split_name, Catalog, Column, ColumnDefault, ComputedKey,
    Deferral, ForeignKey, PlainIndex, Table, TableId, UniqueIndex, IDENTIFIER_BYTES_MAX,
};
use super::error::{PgError, SqlState};
use super::index_expr;
use super::types::{map_action, map_type};
use super::value::{ColumnType, Value};

/// A foreign key under construction; the child column positions are resolved later.
struct PendingForeignKey {
    name: Option<String>,
    columns: Vec<String>,
    spec: ast::ForeignKeyConstraint,
    deferral: Deferral,
}

/// A unique constraint under construction.
struct PendingUnique {
    name: Option<String>,
    columns: Vec<String>,
    primary: bool,
    deferral: Deferral,
}

#[derive(Default)]
struct TableBuilder {
    columns: Vec<Column>,
    uniques: Vec<PendingUnique>,
    foreign_keys: Vec<PendingForeignKey>,
}

fn index_column_names(columns: &[ast::IndexColumn]) -> Result<Vec<String>, PgError> {
    columns
        .iter()
        .map(|column| match &column.column.expr {
            ast::Expr::Identifier(ident) => Ok(fold_ident(ident)),
            other => Err(PgError::unsupported(format!(
                "expression index column {other}"
            ))),
        })
        .collect()
}

/// A constraint's DEFERRABLE / INITIALLY clauses. `INITIALLY DEFERRED` alone makes it
/// deferrable, as in PostgreSQL; `NOT DEFERRABLE INITIALLY DEFERRED` is PostgreSQL's 42601;
/// `[NOT] ENFORCED` is PostgreSQL 18 syntax.
fn deferral(characteristics: &Option<ast::ConstraintCharacteristics>) -> Result<Deferral, PgError> {
    let Some(found) = characteristics else {
        return Ok(Deferral::NotDeferrable);
    };
    if found.enforced.is_some() {
        return Err(PgError::unsupported("[NOT] ENFORCED constraint"));
    }
    let initially_deferred = found.initially == Some(ast::DeferrableInitial::Deferred);
    match (found.deferrable, initially_deferred) {
        (Some(false), true) => Err(PgError::syntax(
            "constraint declared INITIALLY DEFERRED must be DEFERRABLE",
        )),
        (_, true) => Ok(Deferral::Deferred),
        (Some(true), false) => Ok(Deferral::Immediate),
        (_, false) => Ok(Deferral::NotDeferrable),
    }
}

/// PostgreSQL's system columns: a table cannot define them, and the engine does not model
/// reading them.
pub const SYSTEM_COLUMNS: [&str; 6] = ["tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"];

/// The clauses of CREATE TABLE the engine implements are its name, IF NOT EXISTS, columns and
/// constraints; any other is refused with 0A000 naming it. The last check compares the
/// statement with the same one rebuilt from those clauses alone, so a clause a later
/// sqlparser starts to parse is refused too, never ignored.
fn check_create_table_clauses(create: &ast::CreateTable) -> Result<(), PgError> {
    let named = [
        (create.partition_by.is_some(), "PARTITION BY"),
        (create.partition_of.is_some(), "PARTITION OF"),
        (
            create.for_values.is_some(),
            "FOR VALUES (a partition bound)",
        ),
        (create.inherits.is_some(), "INHERITS"),
        (
            create.table_options != ast::CreateTableOptions::None,
            "WITH (storage parameters), TABLESPACE or other table options",
        ),
        (create.temporary || create.global.is_some(), "TEMPORARY"),
        (create.unlogged, "UNLOGGED"),
        (create.on_commit.is_some(), "ON COMMIT"),
        (create.query.is_some(), "CREATE TABLE AS"),
        (create.like.is_some(), "LIKE"),
        (create.or_replace, "OR REPLACE"),
    ];
    PgError::refuse_first("CREATE TABLE ... ", &named)?;
    let modelled = CreateTableBuilder::new(create.name.clone())
        .if_not_exists(create.if_not_exists)
        .columns(create.columns.clone())
        .constraints(create.constraints.clone())
        .build();
    if modelled != *create {
        return Err(PgError::unsupported(format!(
            "a CREATE TABLE clause beyond columns and constraints in: {create}"
        )));
    }
    Ok(())
}

/// CREATE INDEX: unique indexes are enforced, others only named. Every field is named here
/// (no `..`), so a field a later sqlparser adds fails to compile until it is judged.
fn check_create_index_clauses(create: &ast::CreateIndex) -> Result<(), PgError> {
    let ast::CreateIndex {
        name: _,
        table_name: _,
        // The access method does not change what a unique index accepts.
        using: _,
        columns: _,
        unique: _,
        // Builds without blocking writers; the finished index is the same.
        concurrently: _,
        r#async,
        if_not_exists: _,
        include,
        nulls_distinct,
        with,
        // The key and predicate are judged by `index_key`.
        predicate: _,
        index_options,
        alter_options,
    } = create;
    let named = [
        (!include.is_empty(), "INCLUDE"),
        (*nulls_distinct == Some(false), "NULLS NOT DISTINCT"),
        (!with.is_empty(), "WITH (storage parameters)"),
        (!index_options.is_empty(), "index options"),
        (!alter_options.is_empty(), "index options"),
        (*r#async, "ASYNC"),
    ];
    PgError::refuse_first("CREATE INDEX ... ", &named)
}

impl TableBuilder {
    fn add_column(
        &mut self,
        schema: &str,
        table: &str,
        def: &ast::ColumnDef,
        catalog: &mut Catalog,
    ) -> Result<(), PgError> {
        let name = fold_ident(&def.name);
        if SYSTEM_COLUMNS.contains(&name.as_str()) {
            return Err(PgError::new(
                SqlState::DuplicateColumn,
                format!("column name \"{name}\" conflicts with a system column name"),
            ));
        }
        let (column_type, serial) = map_type(&def.data_type)?;
        let mut column = Column {
            name: name.clone(),
            column_type,
            not_null: serial,
            default: None,
            identity_always: false,
        };
        // The sequence a serial or identity column owns: `<table>_<column>_seq` in the
        // table's schema.
        let sequence = free_relation_name(catalog, schema, (table, Some(&name)), "seq");
        if serial {
            column.default = Some(ColumnDefault::Sequence(sequence.clone()));
        }
        for option in &def.options {
            self.add_column_option(&mut column, option, (table, &sequence), serial)?;
        }
        if let Some(ColumnDefault::Sequence(bare)) = &column.default {
            let qualified = catalog.create_sequence(schema, bare)?;
            column.default = Some(ColumnDefault::Sequence(qualified));
        }
        self.columns.push(column);
        Ok(())
    }

    fn add_column_option(
        &mut self,
        column: &mut Column,
        option: &ast::ColumnOptionDef,
        (table, sequence): (&str, &str),
        serial: bool,
    ) -> Result<(), PgError> {
        let constraint_name = option.name.as_ref().map(fold_ident);
        let single = vec![column.name.clone()];
        // transformColumnDefinition's checks: one default, and none beside an identity.
        let identity = !serial && matches!(column.default, Some(ColumnDefault::Sequence(_)));
        let default_clash = |what: &str| {
            PgError::syntax(format!(
                "{what} specified for column \"{}\" of table \"{table}\"",
                column.name
            ))
        };
        match &option.option {
            ColumnOption::NotNull => column.not_null = true,
            ColumnOption::Null => column.not_null = false,
            ColumnOption::Default(_) if identity => {
                return Err(default_clash("both default and identity"))
            }
            ColumnOption::Default(_) if column.default.is_some() => {
                return Err(default_clash("multiple default values"))
            }
            ColumnOption::Default(expr) => {
                column.default = Some(ColumnDefault::Expr(Box::new(expr.clone())))
            }
            ColumnOption::PrimaryKey(spec) => {
                let deferral = deferral(&spec.characteristics)?;
                column.not_null = true;
                self.uniques.push(PendingUnique {
                    name: constraint_name,
                    columns: single,
                    primary: true,
                    deferral,
                });
            }
            ColumnOption::Unique(spec) => {
                let deferral = deferral(&spec.characteristics)?;
                if spec.nulls_distinct == ast::NullsDistinctOption::NotDistinct {
                    return Err(PgError::unsupported("UNIQUE NULLS NOT DISTINCT"));
                }
                self.uniques.push(PendingUnique {
                    name: constraint_name,
                    columns: single,
                    primary: false,
                    deferral,
                });
            }
            ColumnOption::ForeignKey(spec) => {
                let deferral = deferral(&spec.characteristics)?;
                check_match_kind(spec.match_kind)?;
                self.foreign_keys.push(PendingForeignKey {
                    name: constraint_name,
                    columns: single,
                    spec: spec.clone(),
                    deferral,
                });
            }
            ColumnOption::Generated {
                generated_as,
                sequence_options,
                generation_expr: None,
                generation_expr_mode: _,
                generated_keyword: true,
            } => make_identity(
                column,
                generated_as,
                sequence_options.as_deref(),
                (table, sequence),
            )?,
            other => return Err(PgError::unsupported(format!("column option {other}"))),
        }
        Ok(())
    }

    fn add_constraint(&mut self, constraint: &TableConstraint) -> Result<(), PgError> {
        check_constraint_syntax(constraint, &self.columns)?;
        match constraint {
            TableConstraint::PrimaryKey(spec) => {
                let deferral = deferral(&spec.characteristics)?;
                let columns = index_column_names(&spec.columns)?;
                self.uniques.push(PendingUnique {
                    name: spec.name.as_ref().map(fold_ident),
                    columns,
                    primary: true,
                    deferral,
                });
            }
            TableConstraint::Unique(spec) => {
                let deferral = deferral(&spec.characteristics)?;
                if spec.nulls_distinct == ast::NullsDistinctOption::NotDistinct {
                    return Err(PgError::unsupported("UNIQUE NULLS NOT DISTINCT"));
                }
                let columns = index_column_names(&spec.columns)?;
                self.uniques.push(PendingUnique {
                    name: spec.name.as_ref().map(fold_ident),
                    columns,
                    primary: false,
                    deferral,
                });
            }
            TableConstraint::ForeignKey(spec) => {
                let deferral = deferral(&spec.characteristics)?;
                check_match_kind(spec.match_kind)?;
                let columns = spec.columns.iter().map(fold_ident).collect();
                self.foreign_keys.push(PendingForeignKey {
                    name: spec.name.as_ref().map(fold_ident),
                    columns,
                    spec: spec.clone(),
                    deferral,
                });
            }
            TableConstraint::Check(_) => return Err(PgError::unsupported("CHECK constraint")),
            other => return Err(PgError::unsupported(format!("table constraint {other}"))),
        }
        Ok(())
    }
}

/// Foreign keys are checked MATCH SIMPLE (PostgreSQL's default); other kinds are refused
/// rather than checked the wrong way.
fn check_match_kind(kind: Option<ast::ConstraintReferenceMatchKind>) -> Result<(), PgError> {
    match kind {
        None | Some(ast::ConstraintReferenceMatchKind::Simple) => Ok(()),
        Some(other) => Err(PgError::unsupported(format!("MATCH {other}"))),
    }
}

fn positions(table: &Table, names: &[String]) -> Result<Vec<usize>, PgError> {
    names
        .iter()
        .map(|name| {
            table.column_index(name).ok_or_else(|| {
                PgError::new(
                    SqlState::UndefinedColumn,
                    format!("column \"{name}\" named in key does not exist"),
                )
            })
        })
        .collect()
}

/// The parent columns a foreign key references, as PostgreSQL 15's
/// `transformFkeyGetPrimaryKey` / `transformFkeyCheckAttrs` (tablecmds.c) find them: the
/// primary key when none are listed (42704 without one), else a unique constraint or index
/// on exactly those columns, in any order (42830 without one); a deferrable key cannot be
/// referenced (55000).
fn referenced_key(parent: &Table, referred: &[ast::Ident]) -> Result<Vec<usize>, PgError> {
    let deferrable = |kind: &str| {
        PgError::new(
            SqlState::ObjectNotInPrerequisiteState,
            format!(
                "cannot use a deferrable {kind} for referenced table \"{}\"",
                parent.name
            ),
        )
    };
    if referred.is_empty() {
        let primary = parent.primary_key.as_ref().ok_or_else(|| {
            PgError::new(
                SqlState::UndefinedObject,
                format!(
                    "there is no primary key for referenced table \"{}\"",
                    parent.name
                ),
            )
        })?;
        let index = parent
            .uniques
            .iter()
            .find(|unique| unique.columns == *primary);
        if index.is_some_and(|unique| unique.deferral != Deferral::NotDeferrable) {
            return Err(deferrable("primary key"));
        }
        return Ok(primary.clone());
    }
    let names: Vec<String> = referred.iter().map(fold_ident).collect();
    let columns = positions(parent, &names)?;
    let mut wanted = columns.clone();
    wanted.sort_unstable();
    let matching = parent.uniques.iter().find(|unique| {
        let mut have = unique.columns.clone();
        have.sort_unstable();
        have == wanted
    });
    match matching {
        None => Err(PgError::new(
            SqlState::InvalidForeignKey,
            format!(
                "there is no unique constraint matching given keys for referenced table \"{}\"",
                parent.name
            ),
        )),
        Some(unique) if unique.deferral != Deferral::NotDeferrable => {
            Err(deferrable("unique constraint"))
        }
        Some(_) => Ok(columns),
    }
}

fn resolve_foreign_key(
    catalog: &Catalog,
    table: &Table,
    self_id: TableId,
    pending: &PendingForeignKey,
) -> Result<ForeignKey, PgError> {
    let (parent_schema, parent_name) = split_name(&pending.spec.foreign_table)?;
    let self_reference = parent_schema == table.schema && parent_name == table.name;
    let parent_id = if self_reference {
        self_id
    } else {
        catalog.resolve(&pending.spec.foreign_table)?
    };
    let parent = if self_reference {
        table
    } else {
        catalog.table(parent_id)
    };
    let parent_columns = referenced_key(parent, &pending.spec.referred_columns)?;
    if !matches!(
        pending.spec.on_update,
        None | Some(ast::ReferentialAction::NoAction)
    ) {
        return Err(PgError::unsupported("ON UPDATE action on a foreign key"));
    }
    let columns = positions(table, &pending.columns)?;
    let name = pending.name.clone().unwrap_or_else(|| {
        let columns = name_addition(&pending.columns);
        make_object_name(&table.name, Some(&columns), "fkey")
    });
    if columns.len() != parent_columns.len() {
        return Err(PgError::new(
            SqlState::InvalidForeignKey,
            "number of referencing and referenced columns for foreign key disagree",
        ));
    }
    for (child_column, parent_column) in columns.iter().zip(&parent_columns) {
        let child_column = &table.columns[*child_column];
        let parent_column = &parent.columns[*parent_column];
        if !key_types_compatible(child_column.column_type, parent_column.column_type) {
            return Err(PgError::new(
                SqlState::DatatypeMismatch,
                format!("foreign key constraint \"{name}\" cannot be implemented"),
            )
            .with_detail(format!(
                "Key columns \"{}\" and \"{}\" are of incompatible types: {} and {}.",
                child_column.name,
                parent_column.name,
                child_column.column_type.base_name(),
                parent_column.column_type.base_name()
            )));
        }
    }
    let on_delete = map_action(pending.spec.on_delete)?;
    Ok(ForeignKey {
        name,
        columns,
        parent: parent_id,
        parent_columns,
        on_delete,
        deferral: pending.deferral,
    })
}

/// Whether a foreign-key column of type `child` can reference a key column of type `parent`,
/// by PostgreSQL 15's rule (`ATAddForeignKeyConstraint`): the parent index's btree operator
/// family has equality operators taking the child type, or the child type casts implicitly
/// to the parent's operator-class type. Families of the simulated types: integer_ops (int4,
/// int8), datetime_ops (date, timestamp, timestamptz), text_ops (text; varchar columns use
/// it), bpchar_ops, and numeric, bool, uuid, jsonb and interval alone; implicit casts:
/// integers to numeric, char and varchar to text, text and varchar to char.
fn key_types_compatible(child: ColumnType, parent: ColumnType) -> bool {
    use ColumnType as T;
    matches!(
        (child, parent),
        (T::Int4 | T::Int8, T::Int4 | T::Int8 | T::Numeric(_))
            | (
                T::Date | T::Timestamp | T::Timestamptz,
                T::Date | T::Timestamp | T::Timestamptz
            )
            | (
                T::Text | T::Varchar(_) | T::Char(_),
                T::Text | T::Varchar(_) | T::Char(_)
            )
            | (T::Numeric(_), T::Numeric(_))
            | (T::Bool, T::Bool)
            | (T::Uuid, T::Uuid)
            | (T::Jsonb, T::Jsonb)
            | (T::Interval, T::Interval)
    )
}

/// Executes CREATE TABLE.
pub fn create_table(catalog: &mut Catalog, create: &ast::CreateTable) -> Result<(), PgError> {
    check_create_table_clauses(create)?;
    let (schema, name) = split_name(&create.name)?;
    if !catalog.has_schema(&schema) {
        return Err(PgError::new(
            SqlState::InvalidSchemaName,
            format!("schema \"{schema}\" does not exist"),
        ));
    }
    if catalog.relation_exists(&schema, &name) {
        if create.if_not_exists {
            return Ok(());
        }
        return Err(PgError::new(
            SqlState::DuplicateTable,
            format!("relation \"{name}\" already exists"),
        ));
    }
    // Build against a scratch catalog copy so a failure leaves the real one untouched.
    let mut scratch = catalog.clone();
    let mut builder = TableBuilder::default();
    for column in &create.columns {
        builder.add_column(&schema, &name, column, &mut scratch)?;
    }
    for constraint in &create.constraints {
        builder.add_constraint(constraint)?;
    }
    check_definition(&name, &builder)?;
    let mut table = Table {
        schema: schema.clone(),
        name: name.clone(),
        columns: builder.columns,
        uniques: Vec::new(),
        foreign_keys: Vec::new(),
        plain_indexes: Vec::new(),
        primary_key: None,
    };
    // PostgreSQL creates the primary key index before the other unique indexes.
    builder.uniques.sort_by_key(|pending| !pending.primary);
    for pending in &builder.uniques {
        let columns = positions(&table, &pending.columns)?;
        if pending.primary {
            for column_index in &columns {
                table.columns[*column_index].not_null = true;
            }
            table.primary_key = Some(columns.clone());
        }
        let index_name = pending.name.clone().unwrap_or_else(|| {
            if pending.primary {
                make_object_name(&name, None, "pkey")
            } else {
                make_object_name(&name, Some(&name_addition(&pending.columns)), "key")
            }
        });
        scratch.claim_relation_name(&schema, &index_name)?;
        table.uniques.push(UniqueIndex {
            name: index_name,
            columns,
            deferral: pending.deferral,
            constraint: true,
            computed: None,
        });
    }
    let self_id = TableId(scratch.table_slot_count());
    for pending in &builder.foreign_keys {
        let fk = resolve_foreign_key(&scratch, &table, self_id, pending)?;
        table.foreign_keys.push(fk);
    }
    scratch.add_table(table);
    *catalog = scratch;
    Ok(())
}

/// Forms of other dialects sqlparser reads in a table constraint: an index name after the
/// keyword (`UNIQUE idx (a)`, `FOREIGN KEY fk (a)`: MySQL) is PostgreSQL's syntax error at
/// the name; an index type or index options are refused by name. `INCLUDE (c)` keeps `c`
/// out of the key, which is all it changes in what the constraint accepts and in which
/// columns are key columns (row lock strength), so only its columns' existence is checked
/// (42703 "named in key", as PostgreSQL).
fn check_constraint_syntax(
    constraint: &TableConstraint,
    columns: &[Column],
) -> Result<(), PgError> {
    let (index_name, foreign, include) = match constraint {
        TableConstraint::Unique(spec) => (
            &spec.index_name,
            spec.index_type.is_some() || !spec.index_options.is_empty(),
            &spec.include[..],
        ),
        TableConstraint::PrimaryKey(spec) => (
            &spec.index_name,
            spec.index_type.is_some() || !spec.index_options.is_empty(),
            &spec.include[..],
        ),
        TableConstraint::ForeignKey(spec) => (&spec.index_name, false, &[][..]),
        _ => return Ok(()),
    };
    if let Some(name) = index_name {
        return Err(PgError::syntax(format!(
            "syntax error at or near \"{name}\""
        )));
    }
    PgError::refuse_first("table constraint ", &[(foreign, "index type or options")])?;
    for name in include.iter().map(fold_ident) {
        if !columns.iter().any(|column| column.name == name) {
            return Err(PgError::new(
                SqlState::UndefinedColumn,
                format!("column \"{name}\" named in key does not exist"),
            ));
        }
    }
    Ok(())
}

/// An identity column (transformColumnDefinition's checks first: no sequence options, an
/// integer type, no default beside it: 42601 "both default and identity specified").
fn make_identity(
    column: &mut Column,
    generated_as: &ast::GeneratedAs,
    sequence_options: Option<&[ast::SequenceOptions]>,
    (table, sequence): (&str, &str),
) -> Result<(), PgError> {
    if sequence_options.is_some_and(|options| !options.is_empty()) {
        return Err(PgError::unsupported(
            "identity sequence options (START WITH, INCREMENT BY, ...)",
        ));
    }
    if !matches!(column.column_type, ColumnType::Int4 | ColumnType::Int8) {
        return Err(PgError::new(
            SqlState::InvalidParameterValue,
            "identity column type must be smallint, integer, or bigint",
        ));
    }
    if column.default.is_some() {
        return Err(PgError::syntax(format!(
            "both default and identity specified for column \"{}\" of table \"{table}\"",
            column.name
        )));
    }
    column.identity_always = matches!(generated_as, ast::GeneratedAs::Always);
    column.not_null = true;
    column.default = Some(ColumnDefault::Sequence(sequence.to_string()));
    Ok(())
}

/// PostgreSQL's checks of a whole definition, in its order: keys, column names, defaults.
fn check_definition(table: &str, builder: &TableBuilder) -> Result<(), PgError> {
    check_keys(table, &builder.uniques)?;
    check_column_names(&builder.columns)?;
    for column in &builder.columns {
        if let Some(ColumnDefault::Expr(expr)) = &column.default {
            check_default(column, expr)?;
        }
    }
    Ok(())
}

/// transformIndexConstraints' checks, in declaration order: one primary key (42P16), and no
/// column twice in a key (42701).
fn check_keys(table: &str, uniques: &[PendingUnique]) -> Result<(), PgError> {
    let mut primary_seen = false;
    for pending in uniques {
        if pending.primary && std::mem::replace(&mut primary_seen, true) {
            return Err(PgError::new(
                SqlState::InvalidTableDefinition,
                format!("multiple primary keys for table \"{table}\" are not allowed"),
            ));
        }
        for (index, column) in pending.columns.iter().enumerate() {
            if pending.columns[..index].contains(column) {
                let kind = if pending.primary {
                    "primary key"
                } else {
                    "unique"
                };
                return Err(PgError::new(
                    SqlState::DuplicateColumn,
                    format!("column \"{column}\" appears twice in {kind} constraint"),
                ));
            }
        }
    }
    Ok(())
}

/// MergeAttributes' check: no column name twice (42701).
fn check_column_names(columns: &[Column]) -> Result<(), PgError> {
    for (index, column) in columns.iter().enumerate() {
        if columns[..index]
            .iter()
            .any(|earlier| earlier.name == column.name)
        {
            return Err(PgError::new(
                SqlState::DuplicateColumn,
                format!("column \"{}\" specified more than once", column.name),
            ));
        }
    }
    Ok(())
}

/// cookDefault's checks of a column DEFAULT at CREATE TABLE: no column reference and no
/// subquery (0A000 with PostgreSQL's messages), and a constant must fit the column: a quoted
/// one is read by the type's input (22P02 and kin), a typed one needs an assignment cast
/// (42804 "... but default expression is of type ..."). Other expressions are judged when a
/// row takes the default, as before.
fn check_default(column: &Column, expr: &ast::Expr) -> Result<(), PgError> {
    let mut refused = None;
    let _ = ast::visit_expressions(expr, |inner| {
        refused = match inner {
            ast::Expr::Identifier(_) | ast::Expr::CompoundIdentifier(_) => {
                Some("cannot use column reference in DEFAULT expression")
            }
            ast::Expr::Subquery(_) | ast::Expr::Exists { .. } | ast::Expr::InSubquery { .. } => {
                Some("cannot use subquery in DEFAULT expression")
            }
            _ => None,
        };
        if refused.is_some() {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    });
    if let Some(message) = refused {
        return Err(PgError::new(SqlState::FeatureNotSupported, message));
    }
    let ast::Expr::Value(value) = expr else {
        return Ok(());
    };
    let typed = match &value.value {
        ast::Value::SingleQuotedString(text) => {
            // Read by the type's input without its length or precision: the length
            // coercion cookDefault adds runs only when a row takes the default.
            let base = match column.column_type {
                ColumnType::Varchar(_) => ColumnType::Varchar(None),
                ColumnType::Char(_) => ColumnType::Char(None),
                ColumnType::Numeric(_) => ColumnType::Numeric(None),
                other => other,
            };
            Value::Text(text.clone()).cast_to(base)?;
            return Ok(());
        }
        ast::Value::Number(text, _) => match text.parse::<i64>() {
            Ok(number) => i32::try_from(number).map_or(Value::Int8(number), Value::Int4),
            Err(_) => return Ok(()),
        },
        ast::Value::Boolean(flag) => Value::Bool(*flag),
        _ => return Ok(()),
    };
    super::insert::check_assignment(&typed, column).map_err(|_| {
        PgError::new(
            SqlState::DatatypeMismatch,
            format!(
                "column \"{}\" is of type {} but default expression is of type {}",
                column.name,
                column.column_type.name(),
                typed.type_name()
            ),
        )
    })
}

/// What a CREATE [UNIQUE] INDEX adds, decided without changing the catalog, so a unique
/// index is added only after its existing rows passed (`index_build`) and a check that
/// waits re-runs from a clean state.
pub enum IndexPlan {
    /// IF NOT EXISTS and the name is taken: nothing to do.
    Exists,
    /// A plain index.
    Plain(TableId, PlainIndex),
    /// A unique index, enforced once added.
    Unique(TableId, UniqueIndex),
}

/// Plans CREATE [UNIQUE] INDEX: its clauses, key and name are checked here.
pub fn plan_index(catalog: &Catalog, create: &ast::CreateIndex) -> Result<IndexPlan, PgError> {
    check_create_index_clauses(create)?;
    let table_id = catalog.resolve(&create.table_name)?;
    let table = catalog.table(table_id);
    let key = index_key(table, create)?;
    let index_name = match &create.name {
        Some(name) => split_name(name)?.1,
        None => free_index_name(catalog, table, &key.name_parts),
    };
    if catalog.relation_exists(&table.schema, &index_name) {
        if create.if_not_exists {
            return Ok(IndexPlan::Exists);
        }
        return Err(PgError::new(
            SqlState::DuplicateTable,
            format!("relation \"{index_name}\" already exists"),
        ));
    }
    if !create.unique {
        let (columns, reads) = match &key.computed {
            Some(computed) => (Vec::new(), computed.referenced_columns(table)),
            None => {
                let columns = positions(table, &key.name_parts)?;
                (columns.clone(), columns)
            }
        };
        let index = PlainIndex {
            name: index_name,
            columns,
            reads,
        };
        return Ok(IndexPlan::Plain(table_id, index));
    }
    let (columns, computed) = match key.computed {
        Some(computed) => (Vec::new(), Some(std::sync::Arc::new(computed))),
        None => (positions(table, &key.name_parts)?, None),
    };
    Ok(IndexPlan::Unique(
        table_id,
        UniqueIndex {
            name: index_name,
            columns,
            deferral: Deferral::NotDeferrable,
            constraint: false,
            computed,
        },
    ))
}

/// Adds a planned index to the catalog.
pub fn add_index(catalog: &mut Catalog, plan: IndexPlan) -> Result<(), PgError> {
    match plan {
        IndexPlan::Exists => Ok(()),
        IndexPlan::Plain(table_id, index) => {
            let schema = catalog.table(table_id).schema.clone();
            catalog.claim_relation_name(&schema, &index.name)?;
            catalog.add_plain_index(table_id, index);
            Ok(())
        }
        IndexPlan::Unique(table_id, unique) => {
            let schema = catalog.table(table_id).schema.clone();
            catalog.claim_relation_name(&schema, &unique.name)?;
            catalog.add_unique(table_id, unique);
            Ok(())
        }
    }
}

/// An index's key as CREATE INDEX writes it.
struct IndexKeyDef {
    /// Each part's name for the index name (PostgreSQL's `ChooseIndexColumnNames`): the
    /// column, or for an expression the name `FigureIndexColname` picks, else `expr`. For a
    /// column-only key without WHERE, these are the columns.
    name_parts: Vec<String>,
    /// Set for an expression or partial key.
    computed: Option<ComputedKey>,
}

fn index_key(table: &Table, create: &ast::CreateIndex) -> Result<IndexKeyDef, PgError> {
    let mut parts = Vec::new();
    let mut name_parts = Vec::new();
    let mut plain = create.predicate.is_none();
    for column in &create.columns {
        // `((id))` is the column `id`, as in PostgreSQL.
        let mut expr = &column.column.expr;
        while let ast::Expr::Nested(inner) = expr {
            expr = inner;
        }
        match expr {
            ast::Expr::Identifier(ident) => name_parts.push(fold_ident(ident)),
            other => {
                plain = false;
                index_expr::check_index_expression(table, other, "expression")?;
                name_parts.push(figure_index_colname(other).unwrap_or_else(|| "expr".into()));
            }
        }
        parts.push(expr.clone());
    }
    if plain {
        return Ok(IndexKeyDef {
            name_parts,
            computed: None,
        });
    }
    if let Some(predicate) = &create.predicate {
        index_expr::check_index_expression(table, predicate, "predicate")?;
    }
    let shown = parts
        .iter()
        .map(|part| match part {
            ast::Expr::Identifier(ident) => fold_ident(ident),
            ast::Expr::Function(_) | ast::Expr::Nested(_) => part.to_string(),
            other => format!("({other})"),
        })
        .collect();
    Ok(IndexKeyDef {
        name_parts,
        computed: Some(ComputedKey {
            parts,
            shown,
            predicate: create.predicate.clone(),
        }),
    })
}

/// PostgreSQL's `FigureIndexColname`: a column's name, a function's name, through a cast the
/// inner name (else the type's); `None` for other expressions (the index name says `expr`).
fn figure_index_colname(expr: &ast::Expr) -> Option<String> {
    match expr {
        ast::Expr::Identifier(ident) => Some(fold_ident(ident)),
        ast::Expr::CompoundIdentifier(idents) => idents.last().map(fold_ident),
        ast::Expr::Nested(inner) => figure_index_colname(inner),
        ast::Expr::Function(function) => Some(super::functions::function_name(function)),
        ast::Expr::Cast {
            expr, data_type, ..
        } => figure_index_colname(expr).or_else(|| {
            let written = data_type.to_string().to_lowercase();
            written.split(['(', ' ']).next().map(str::to_string)
        }),
        _ => None,
    }
}

/// `<table>_<parts>_idx`, with the first free number appended when taken (PostgreSQL's
/// `ChooseRelationName`).
fn free_index_name(catalog: &Catalog, table: &Table, name_parts: &[String]) -> String {
    let parts = name_addition(name_parts);
    free_relation_name(catalog, &table.schema, (&table.name, Some(&parts)), "idx")
}

/// PostgreSQL's ChooseRelationName: `make_object_name` with the label, then `label1`,
/// `label2`, … until the name is free in the schema.
fn free_relation_name(
    catalog: &Catalog,
    schema: &str,
    (name1, name2): (&str, Option<&str>),
    label: &str,
) -> String {
    let mut candidate = make_object_name(name1, name2, label);
    let mut number = 0;
    while catalog.relation_exists(schema, &candidate) {
        number += 1;
        candidate = make_object_name(name1, name2, &format!("{label}{number}"));
    }
    candidate
}

/// Column names joined by `_` for a generated name, stopping once 63 bytes are reached
/// (PostgreSQL's ChooseIndexNameAddition; makeObjectName then shortens the whole).
fn name_addition(columns: &[String]) -> String {
    let mut joined = String::new();
    for column in columns {
        if !joined.is_empty() {
            joined.push('_');
        }
        joined.push_str(column);
        if joined.len() >= IDENTIFIER_BYTES_MAX {
            break;
        }
    }
    joined
}
