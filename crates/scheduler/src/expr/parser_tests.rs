use super::*;
use crate::expr::{Argument, LiteralValue, Operator, Subject};

fn parse(s: &str) -> Expr {
    parse_expression(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn err(s: &str) -> ExprError {
    parse_expression(s).expect_err(s)
}

fn comparison(e: &Expr) -> &Comparison {
    match e {
        Expr::Compare(c) => c,
        other => panic!("not a comparison: {other:?}"),
    }
}

#[test]
fn every_operator_in_both_forms() {
    let cases = [
        ("==", "equals", Operator::Equals),
        ("!=", "not_equals", Operator::NotEquals),
        (">", "greater_than", Operator::GreaterThan),
        (">=", "greater_than_equal", Operator::GreaterThanEqual),
        ("<", "less_than", Operator::LessThan),
        ("<=", "less_than_equal", Operator::LessThanEqual),
        ("=~", "matches", Operator::Matches),
        ("!~", "not_matches", Operator::NotMatches),
    ];
    for (sym, word, op) in cases {
        for form in [sym, word, &word.to_uppercase()] {
            let e = parse(&format!("attribute:x {form} v1"));
            assert_eq!(comparison(&e).operator, op, "{form}");
        }
        let tight = parse(&format!("attribute:x{sym}v1"));
        assert_eq!(comparison(&tight).operator, op, "{sym} without spaces");
    }
    for (form, op) in [("in", Operator::In), ("!in", Operator::NotIn), ("not_in", Operator::NotIn)] {
        let e = parse(&format!("attribute:x {form} [a, 'b c', \"d\"]"));
        let c = comparison(&e);
        assert_eq!(c.operator, op);
        let Argument::List(items) = &c.argument else { panic!("list") };
        let texts: Vec<&str> = items.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["a", "b c", "d"]);
    }
    for (form, op) in
        [("exists", Operator::Exists), ("!exists", Operator::NotExists), ("not_exists", Operator::NotExists)]
    {
        let e = parse(&format!("attribute:x {form}"));
        assert_eq!(comparison(&e).operator, op);
        assert_eq!(comparison(&e).argument, Argument::None);
    }
}

#[test]
fn every_subject() {
    let cases = [
        ("agentConnected == true", Subject::AgentConnected),
        ("agentVersion < 1.14.5", Subject::AgentVersion),
        ("attribute:ecs.instance-type == t2.small", Subject::Attribute("ecs.instance-type".into())),
        ("attribute:my_attr/x\\y-1 exists", Subject::Attribute("my_attr/x\\y-1".into())),
        ("ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", Subject::Ec2InstanceId),
        ("registeredAt < 2018-02-13", Subject::RegisteredAt),
        ("runningTasksCount == 1", Subject::RunningTasksCount),
        ("task:group == service:production", Subject::TaskGroup),
    ];
    for (text, subject) in cases {
        assert_eq!(comparison(&parse(text)).subject, subject, "{text}");
    }
}

#[test]
fn typed_arguments() {
    let lit = |s: &str| match &comparison(&parse(s)).argument {
        Argument::Value(l) => l.value,
        other => panic!("{other:?}"),
    };
    assert_eq!(lit("runningTasksCount > 10"), LiteralValue::Integer(10));
    assert_eq!(lit("agentConnected == FALSE"), LiteralValue::Bool(false));
    assert_eq!(lit("registeredAt >= 2018-06-18"), LiteralValue::Date { epoch_seconds: 1_529_280_000, date_only: true });
    assert_eq!(
        lit("registeredAt < 2018-06-18T22:28:28+00:00"),
        LiteralValue::Date { epoch_seconds: 1_529_360_908, date_only: false }
    );
    assert_eq!(lit("agentVersion == 1.2.3"), LiteralValue::Text);
    let e = parse("agentConnected in [true, false]");
    let Argument::List(items) = &comparison(&e).argument else { panic!() };
    assert_eq!(items[1].value, LiteralValue::Bool(false));
}

#[test]
fn precedence_not_and_or() {
    let show = |s: &str| parse(s).to_string();
    assert_eq!(
        show("attribute:a == 1 or attribute:b == 2 and attribute:c == 3"),
        "(attribute:a == 1 or (attribute:b == 2 and attribute:c == 3))"
    );
    assert_eq!(
        show("attribute:a == 1 and attribute:b == 2 or attribute:c == 3"),
        "((attribute:a == 1 and attribute:b == 2) or attribute:c == 3)"
    );
    assert_eq!(show("not attribute:a == 1 and attribute:b == 2"), "(not (attribute:a == 1) and attribute:b == 2)");
    assert_eq!(
        show("(attribute:a == 1 or attribute:b == 2) and attribute:c == 3"),
        "((attribute:a == 1 or attribute:b == 2) and attribute:c == 3)"
    );
    assert_eq!(show("!(task:group == database)"), "not (task:group == database)");
    assert_eq!(show("not(task:group == database)"), "not (task:group == database)");
    assert_eq!(
        show("attribute:a == 1 && attribute:b == 2 || ! attribute:c exists"),
        "((attribute:a == 1 and attribute:b == 2) or not (attribute:c exists))"
    );
    assert_eq!(
        show("attribute:a == 1 AND attribute:b == 2 Or attribute:c == 3"),
        "((attribute:a == 1 and attribute:b == 2) or attribute:c == 3)"
    );
    assert_eq!(show("not not attribute:a exists"), "not (not (attribute:a exists))");
    assert_eq!(
        show("attribute:a == x or attribute:b == y or attribute:c == z"),
        "((attribute:a == x or attribute:b == y) or attribute:c == z)"
    );
}

#[test]
fn display_round_trips() {
    for text in [
        "attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d",
        "ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']",
        "attribute:x == 'two words' or not(attribute:y !exists)",
        "attribute:ecs.instance-type =~ (m5|c5)\\..* and runningTasksCount <= 3",
        "attribute:x == 'it\\'s'",
    ] {
        let once = parse(text);
        let again = parse(&once.to_string());
        assert_eq!(once, again, "{text} -> {once}");
    }
}

#[test]
fn patterns_with_parentheses_inside_groups() {
    let e = parse("(attribute:ecs.instance-type =~ (m5|c5).*) and attribute:z exists");
    let Expr::And(left, _) = &e else { panic!("{e:?}") };
    let Argument::Pattern(p) = &comparison(left).argument else { panic!() };
    assert_eq!(p.source(), "(m5|c5).*");
    assert!(p.is_match("c5.large"));
    let quoted = parse("attribute:x =~ 'a b.*'");
    let Argument::Pattern(p) = &comparison(&quoted).argument else { panic!() };
    assert!(p.is_match("a bc"));
}

#[test]
fn errors_say_what_and_where() {
    let e = err("attribute:a == b)");
    assert_eq!((e.message.as_str(), e.position), ("unexpected token ')'", 16));
    assert_eq!(e.to_string(), "unexpected token ')' at position 16 in expression 'attribute:a == b)'");
    let e = err("(attribute:a == b and )");
    assert_eq!((e.message.as_str(), e.position), ("unexpected token ')'", 22));
    let e = err("(attribute:a == b");
    assert_eq!((e.message.as_str(), e.position), ("unclosed '('", 0));
    let e = err("");
    assert_eq!(e.message, "empty expression");
    let e = err("colour == red");
    assert_eq!((e.message.as_str(), e.position), ("unknown subject 'colour'", 0));
    let e = err("attribute: == red");
    assert_eq!(e.position, 10);
    let e = err("attribute:a => b");
    assert_eq!((e.message.as_str(), e.position), ("unknown operator '='", 12));
    let e = err("attribute:a is b");
    assert_eq!((e.message.as_str(), e.position), ("unknown operator 'is'", 12));
    let e = err("attribute:a");
    assert_eq!(e.message, "expected an operator, found end of expression");
    let e = err("attribute:a ==");
    assert_eq!((e.message.as_str(), e.position), ("expected a value, found end of expression", 14));
    let e = err("agentConnected > true");
    assert_eq!((e.message.as_str(), e.position), ("operator '>' is not valid for subject 'agentConnected'", 15));
    let e = err("runningTasksCount in [1]");
    assert_eq!(e.message, "operator 'in' is not valid for subject 'runningTasksCount'");
    let e = err("registeredAt exists");
    assert!(e.message.contains("not valid"));
    let e = err("runningTasksCount > many");
    assert_eq!((e.message.as_str(), e.position), ("expected an integer, found 'many'", 20));
    let e = err("registeredAt < 2018-13-01");
    assert!(e.message.starts_with("invalid date '2018-13-01'"), "{}", e.message);
    assert_eq!(e.position, 15);
    let e = err("agentConnected == yes");
    assert_eq!(e.message, "expected true or false, found 'yes'");
    let e = err("attribute:a in b");
    assert_eq!((e.message.as_str(), e.position), ("expected '[' to start an argument list, found token 'b'", 15));
    let e = err("attribute:a in [b, c");
    assert_eq!(e.message, "unclosed argument list, expected ']'");
    let e = err("attribute:a in [b c]");
    assert_eq!((e.message.as_str(), e.position), ("unexpected token 'c'", 18));
    let e = err("attribute:a in []");
    assert_eq!(e.position, 16);
    let e = err("attribute:a =~ (ab");
    assert_eq!((e.message.as_str(), e.position), ("invalid regular expression: unclosed group", 15));
    let e = err("attribute:a =~ 'x\\1'");
    assert_eq!(e.position, 18);
    let e = err("attribute:a == 'open");
    assert_eq!((e.message.as_str(), e.position), ("unterminated quoted string", 15));
    let e = err("attribute:a == b c");
    assert_eq!((e.message.as_str(), e.position), ("unexpected token 'c'", 17));
    let e = err("attribute:a == b and");
    assert!(e.message.starts_with("unexpected end of expression"), "{}", e.message);
    let e = err("attribute:a exists attribute:b exists");
    assert_eq!(e.position, 19);
    let e = err("!= x");
    assert_eq!((e.message.as_str(), e.position), ("unexpected token '!='", 0));
}

#[test]
fn nesting_is_bounded() {
    let deep = format!("{}attribute:a exists{}", "(".repeat(200), ")".repeat(200));
    assert_eq!(err(&deep).message, "expression is nested too deeply");
    let ok = format!("{}attribute:a exists{}", "(".repeat(30), ")".repeat(30));
    assert!(parse_expression(&ok).is_ok());
    let nots = format!("{}attribute:a exists", "not ".repeat(100));
    assert!(parse_expression(&nots).is_err());
}

#[test]
fn documented_examples_parse() {
    for text in [
        "attribute:ecs.instance-type == t2.small",
        "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
        "attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d",
        "task:group == service:production",
        "not(task:group == database)",
        "runningTasksCount == 1",
        "agentVersion < 1.14.5",
        "registeredAt < 2018-02-13",
        "ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']",
        "attribute:stack == prod",
        "attribute:ecs.instance-type in [t2.small, t2.medium]",
        "attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone == us-east-1a",
    ] {
        parse(text);
    }
}
