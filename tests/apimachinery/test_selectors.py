"""labkit.apimachinery.labels and .fields: label and field selectors with kube's syntax, semantics and errors."""

from __future__ import annotations

import pytest

from labkit.apimachinery.fields import FieldSelector, parse_field_selector
from labkit.apimachinery.labels import SelectorError, label_selector_from_object, parse_label_selector

# --- label selectors: parsing and the canonical string ------------------------------------------------


@pytest.mark.parametrize("text, canonical", [
    ("", ""),
    ("a=b", "a=b"),
    ("a==b", "a==b"),
    ("  z!=1 ,  a=b", "a=b,z!=1"),                         # sorted by key, blanks dropped
    ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
    ("env in (prod, dev, prod)", "env in (dev,prod)"),     # a set: sorted, no duplicates
    ("!a", "!a"),
    ("a=", "a="),                                          # the empty value
    ("in in (in)", "in in (in)"),                          # keywords are identifiers where no operator goes
    ("a>1,b<10", "a>1,b<10"),
    ("app.kubernetes.io/name=web", "app.kubernetes.io/name=web"),
])
def test_parse_canonical(text, canonical):
    assert str(parse_label_selector(text)) == canonical


@pytest.mark.parametrize("text, labels, expected", [
    ("", {}, True),
    ("app=web", {"app": "web"}, True),
    ("app=web", {"app": "db"}, False),
    ("app=web", {}, False),
    ("app!=web", {}, True),                                # != and notin match a missing key
    ("app!=web", {"app": "web"}, False),
    ("app in (web,db)", {"app": "db"}, True),
    ("app notin (web,db)", {"app": "cache"}, True),
    ("app notin (web,db)", {"app": "web"}, False),
    ("app", {"app": ""}, True),
    ("!app", {"app": ""}, False),
    ("!app", {"tier": "x"}, True),
    ("app=,tier", {"app": "", "tier": "a"}, True),
    ("app=web,tier=fe", {"app": "web", "tier": "be"}, False),
    ("n>3", {"n": "4"}, True),
    ("n>3", {"n": "3"}, False),
    ("n<3", {"n": "-5"}, True),
    ("n>3", {"n": "many"}, False),                         # not an integer: no match, no error
    ("n>3", {}, False),
])
def test_label_matches(text, labels, expected):
    assert parse_label_selector(text).matches(labels) is expected


def test_empty_selector_is_everything():
    selector = parse_label_selector("")
    assert selector.empty() and selector.matches({}) and selector.matches({"a": "b"})
    assert not parse_label_selector("a").empty()


_KEY_REGEX_ERR = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
                  "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                  "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")


@pytest.mark.parametrize("text, message", [
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("a=b c", "found 'c', expected: ',' or 'end of string'"),
    ("a=b,", "found '', expected: identifier after ','"),
    (",a", "found ',', expected: !, identifier, or 'end of string'"),
    ("!a=b", "found '=', expected: ',' or 'end of string'"),
    ("a in b", "unable to parse requirement: found 'b' expected: '('"),
    ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'"),
    ("a=(", "unable to parse requirement: found '(', expected: identifier"),
    ("-a", f'unable to parse requirement: <nil>: Invalid value: "-a": {_KEY_REGEX_ERR}'),
    ("a>x", "unable to parse requirement: values[0]: Invalid value: \"x\": "
            "for 'Gt', 'Lt' operators, the value must be an integer"),
])
def test_parse_errors_read_like_kube(text, message):
    with pytest.raises(SelectorError) as err:
        parse_label_selector(text)
    assert str(err.value) == message


def test_bad_value_is_reported_with_its_key():
    with pytest.raises(SelectorError, match=r'^unable to parse requirement: values\[0\]\[app\]: Invalid value: "-web": '
                                            r"a valid label must be an empty string"):
        parse_label_selector("app=-web")


def test_selector_error_is_a_value_error():
    assert issubclass(SelectorError, ValueError)


# --- metav1.LabelSelector --------------------------------------------------------------------------------


def test_nil_object_selects_nothing_and_empty_selects_everything():
    nothing = label_selector_from_object(None)
    assert not nothing.matches({}) and not nothing.matches({"a": "b"}) and not nothing.empty()
    everything = label_selector_from_object({})
    assert everything.matches({}) and everything.empty()
    assert label_selector_from_object({"matchLabels": {}, "matchExpressions": []}).empty()


def test_object_selector():
    selector = label_selector_from_object({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["fe", "be"]},
            {"key": "env", "operator": "NotIn", "values": ["dev"]},
            {"key": "track", "operator": "Exists"},
            {"key": "legacy", "operator": "DoesNotExist"},
        ],
    })
    assert str(selector) == "app=web,env notin (dev),!legacy,tier in (be,fe),track"
    assert selector.matches({"app": "web", "tier": "fe", "track": "x"})
    assert not selector.matches({"app": "web", "tier": "fe", "track": "x", "legacy": "1"})
    assert not selector.matches({"app": "web", "tier": "fe", "track": "x", "env": "dev"})
    assert not selector.matches({"app": "web", "tier": "fe"})


@pytest.mark.parametrize("expr, message", [
    ({"key": "a", "operator": "Gt", "values": ["1"]}, '"Gt" is not a valid label selector operator'),
    ({"key": "a", "operator": "In"},
     "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"),
    ({"key": "a", "operator": "Exists", "values": ["x"]},
     'values: Invalid value: ["x"]: values set must be empty for exists and does not exist'),
])
def test_object_selector_errors(expr, message):
    with pytest.raises(SelectorError) as err:
        label_selector_from_object({"matchExpressions": [expr]})
    assert str(err.value) == message


def test_object_selector_aggregates_several_errors():
    with pytest.raises(SelectorError) as err:
        label_selector_from_object({"matchExpressions": [{"key": "-a", "operator": "In"}]})
    assert str(err.value) == (f'[key: Invalid value: "-a": {_KEY_REGEX_ERR}, '
                              "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty]")


# --- field selectors ---------------------------------------------------------------------------------------


def test_field_selector_parse_and_match():
    selector = parse_field_selector("status.phase!=Running,metadata.name==web,spec.nodeName=")
    assert selector.requirements == (("metadata.name", "=", "web"), ("spec.nodeName", "=", ""),
                                     ("status.phase", "!=", "Running"))
    assert selector.matches({"metadata.name": "web", "spec.nodeName": "", "status.phase": "Pending"})
    assert selector.matches({"metadata.name": "web", "status.phase": "Pending"})  # missing reads as ""
    assert not selector.matches({"metadata.name": "web", "status.phase": "Running"})
    assert not selector.matches({"metadata.name": "db"})


def test_field_selector_escaping_round_trips():
    selector = parse_field_selector(r"metadata.name=a\,b\=c\\d,x=y")
    assert selector.requirements == (("metadata.name", "=", "a,b=c\\d"), ("x", "=", "y"))
    assert str(selector) == r"metadata.name=a\,b\=c\\d,x=y"
    assert parse_field_selector(str(selector)) == selector


def test_field_selector_empty_is_everything():
    assert parse_field_selector("") == FieldSelector()
    assert parse_field_selector("").empty() and parse_field_selector("").matches({"a": "b"})
    assert parse_field_selector(",a=b,").requirements == (("a", "=", "b"),)


@pytest.mark.parametrize("text, message", [
    ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
    ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
    (r"a=b\x", r"invalid field selector: invalid escape sequence: \x"),
    ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
    ("a=b=c", "invalid field selector: unescaped character in value: 61"),
])
def test_field_selector_errors(text, message):
    with pytest.raises(SelectorError) as err:
        parse_field_selector(text)
    assert str(err.value) == message
