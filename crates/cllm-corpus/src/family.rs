//! Recipe families: from the title, and for soup and pizza also from cues in the
//! ingredients and steps.
//!
//! A text is split into lowercase word tokens (maximal runs of alphanumeric characters;
//! everything else, including hyphens and apostrophes, separates). Its **title** is its
//! first non-empty line; its **ingredients** are the lines between `Ingredients:` and
//! `Steps:` and its **steps** the lines after `Steps:` (the format of
//! [`Recipe::render`](crate::Recipe::render)); a text without these headings is all
//! title line and steps.
//!
//! A family matches when
//! - one of its title words is a whole title token, unless the token next to it marks a
//!   different dish (e.g. "salad *dressing*", "*fish* cakes") or, for some words, an
//!   earlier title token makes it a side ("Rice *in* Fish Broth"); or
//! - one of its body cues (a run of tokens, e.g. "ladle the soup") occurs in the steps or
//!   ingredients, unless the ingredients name the family's word themselves (a can of
//!   mushroom soup makes a casserole, not a soup).
//!
//! Whole tokens mean "soupçon", "Pizzazz" or "pancake" never match.
//! [`families_of_text`] gives every family that matches, in [`FAMILIES`] order;
//! [`family_of_text`] the first; [`family_of`] looks at a title alone.
//!
//! | family | title words | not when | body cues |
//! |---|---|---|---|
//! | pizza | pizza(s), pizzetta(s), calzone(s), flammekueche | — | pizza dough, pizza crust, pizza base in the ingredients |
//! | soup | soup(s), soupe, sopa(s), zuppa, minestrone, chowder(s), bisque(s), gazpacho, salmorejo, borscht, borsch, borshch, shchi, solyanka, rassolnik, okroshka, ukha, kharcho, consommé, consomme, vichyssoise, bouillabaisse, mulligatawny, gumbo, pho, laksa, ramen, shorba, pozole, posole, potage, stracciatella, "tom yum", "cream of …" at the start; broth | soup followed by mix, dumpling(s); stracciatella followed by gelato, ice, cheese; "cream of" followed by wheat, rice, tartar; broth after "in" or "with" | "ladle/serve/simmer/season/blend/purée/… (the) soup", "soup into", "soup bowl(s)" (not when the ingredients say soup) |
//! | salad | salad, salads | followed by dressing(s) | — |
//! | curry | curry, curries | followed by powder, paste, sauce, leaf, leaves, oil, ketchup | — |
//! | pasta | pasta(s), spaghetti, lasagna, lasagne, macaroni, penne, fettuccine, fettuccini, linguine, rigatoni, tagliatelle, ravioli, tortellini, fusilli, farfalle, orzo | followed by sauce | — |
//! | cake | cake(s), cheesecake(s), cupcake(s) | preceded by fish, crab, potato, rice, salmon, tuna, shrimp, oat, pan | — |
//! | cookie | cookie, cookies | — | — |
//! | bread | bread(s), cornbread, flatbread(s) | followed by pudding, crumb(s), sauce, stuffing, dressing | — |
//!
//! `tests/family_rules.rs` lists what each rule catches and misses on the real corpus.

/// A recipe family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// Pizza (also pizza sauce and dough: the rule is the title word).
    Pizza,
    /// Soup.
    Soup,
    /// Salad.
    Salad,
    /// Curry.
    Curry,
    /// Pasta dishes.
    Pasta,
    /// Cakes, cheesecakes, cupcakes.
    Cake,
    /// Cookies.
    Cookie,
    /// Bread.
    Bread,
}

/// All families, in priority order.
pub const FAMILIES: [Family; 8] = [
    Family::Pizza,
    Family::Soup,
    Family::Salad,
    Family::Curry,
    Family::Pasta,
    Family::Cake,
    Family::Cookie,
    Family::Bread,
];

/// How a family is recognised (see the module docs).
struct Rule {
    /// Title words.
    words: &'static [&'static str],
    /// A title word does not count after one of these tokens...
    not_before: &'static [&'static str],
    /// ... or before one of these.
    not_after: &'static [&'static str],
    /// Title words that count only when no earlier title token is one of `side_markers`.
    head_words: &'static [&'static str],
    side_markers: &'static [&'static str],
    /// Token runs that count at the start of the title, unless the next token is one of
    /// `not_after_opening`.
    title_openings: &'static [&'static [&'static str]],
    not_after_opening: &'static [&'static str],
    /// Token runs that count anywhere in the title.
    title_phrases: &'static [&'static [&'static str]],
    /// The body cue, if the family has one.
    body: Option<BodyCue>,
}

/// A family word that marks the text as the family: in the steps after one of `verbs`
/// (directly or with "the" between) or before one of `next`, unless the ingredients hold
/// `word` themselves; or, for a cue without verbs, in the ingredients before one of `next`.
struct BodyCue {
    word: &'static str,
    verbs: &'static [&'static str],
    next: &'static [&'static str],
}

const NO_RULE: Rule = Rule {
    words: &[],
    not_before: &[],
    not_after: &[],
    head_words: &[],
    side_markers: &[],
    title_openings: &[],
    not_after_opening: &[],
    title_phrases: &[],
    body: None,
};

impl Family {
    /// The tag value, e.g. `pizza`.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Pizza => "pizza",
            Family::Soup => "soup",
            Family::Salad => "salad",
            Family::Curry => "curry",
            Family::Pasta => "pasta",
            Family::Cake => "cake",
            Family::Cookie => "cookie",
            Family::Bread => "bread",
        }
    }

    fn rule(self) -> Rule {
        match self {
            Family::Pizza => Rule {
                words: &[
                    "pizza",
                    "pizzas",
                    "pizzetta",
                    "pizzettas",
                    "calzone",
                    "calzones",
                    "flammekueche",
                ],
                body: Some(BodyCue {
                    word: "pizza",
                    verbs: &[],
                    next: &["dough", "crust", "base"],
                }),
                ..NO_RULE
            },
            Family::Soup => Rule {
                words: &[
                    "soup",
                    "soups",
                    "soupe",
                    "sopa",
                    "sopas",
                    "zuppa",
                    "minestrone",
                    "chowder",
                    "chowders",
                    "bisque",
                    "bisques",
                    "gazpacho",
                    "salmorejo",
                    "borscht",
                    "borsch",
                    "borshch",
                    "shchi",
                    "solyanka",
                    "rassolnik",
                    "okroshka",
                    "ukha",
                    "kharcho",
                    "consommé",
                    "consomme",
                    "vichyssoise",
                    "bouillabaisse",
                    "mulligatawny",
                    "gumbo",
                    "pho",
                    "laksa",
                    "ramen",
                    "shorba",
                    "pozole",
                    "posole",
                    "potage",
                    "stracciatella",
                ],
                not_after: &["mix", "dumpling", "dumplings", "gelato", "ice", "cheese"],
                head_words: &["broth"],
                side_markers: &["in", "with"],
                title_openings: &[&["cream", "of"]],
                not_after_opening: &["wheat", "rice", "tartar"],
                title_phrases: &[&["tom", "yum"]],
                body: Some(BodyCue {
                    word: "soup",
                    verbs: &[
                        "ladle", "serve", "simmer", "cook", "season", "blend", "puree", "purée",
                        "taste", "reheat", "chill", "garnish", "thicken", "strain", "boil", "heat",
                        "bring", "stir", "pour", "cool", "salt",
                    ],
                    next: &["into", "bowl", "bowls"],
                }),
                ..NO_RULE
            },
            Family::Salad => Rule {
                words: &["salad", "salads"],
                not_after: &["dressing", "dressings"],
                ..NO_RULE
            },
            Family::Curry => Rule {
                words: &["curry", "curries"],
                not_after: &[
                    "powder", "paste", "sauce", "leaf", "leaves", "oil", "ketchup",
                ],
                ..NO_RULE
            },
            Family::Pasta => Rule {
                words: &[
                    "pasta",
                    "pastas",
                    "spaghetti",
                    "lasagna",
                    "lasagne",
                    "macaroni",
                    "penne",
                    "fettuccine",
                    "fettuccini",
                    "linguine",
                    "rigatoni",
                    "tagliatelle",
                    "ravioli",
                    "tortellini",
                    "fusilli",
                    "farfalle",
                    "orzo",
                ],
                not_after: &["sauce"],
                ..NO_RULE
            },
            Family::Cake => Rule {
                words: &[
                    "cake",
                    "cakes",
                    "cheesecake",
                    "cheesecakes",
                    "cupcake",
                    "cupcakes",
                ],
                not_before: &[
                    "fish", "crab", "potato", "rice", "salmon", "tuna", "shrimp", "oat", "pan",
                ],
                ..NO_RULE
            },
            Family::Cookie => Rule {
                words: &["cookie", "cookies"],
                ..NO_RULE
            },
            Family::Bread => Rule {
                words: &["bread", "breads", "cornbread", "flatbread", "flatbreads"],
                not_after: &[
                    "pudding", "crumb", "crumbs", "sauce", "stuffing", "dressing",
                ],
                ..NO_RULE
            },
        }
    }

    /// The words that name this family in a text: its title words, head words and the
    /// words of its title phrases (`pizza`, `calzone`; `soup`, `broth`, `tom`, `yum`). The
    /// generic openings ("cream of") are not names. What a content-based scorer must never
    /// see ([`name_words`]).
    pub fn name_words(self) -> Vec<&'static str> {
        let rule = self.rule();
        let mut words: Vec<&'static str> = rule.words.to_vec();
        words.extend_from_slice(rule.head_words);
        for phrase in rule.title_phrases {
            words.extend_from_slice(phrase);
        }
        if let Some(cue) = &rule.body {
            words.push(cue.word);
        }
        words.sort_unstable();
        words.dedup();
        words
    }

    /// Whether `title` matches this family's rule (ignoring priority).
    pub fn matches(self, title: &str) -> bool {
        matches_tokens(self, &title_tokens(title))
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name words of every family ([`Family::name_words`]), sorted, without repeats.
pub fn name_words() -> Vec<&'static str> {
    let mut words: Vec<&'static str> = FAMILIES.iter().flat_map(|f| f.name_words()).collect();
    words.sort_unstable();
    words.dedup();
    words
}

/// The lowercase word tokens of a title.
pub fn title_tokens(title: &str) -> Vec<String> {
    title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn matches_tokens(family: Family, tokens: &[String]) -> bool {
    let rule = family.rule();
    let at = |i: usize| tokens.get(i).map(String::as_str);
    let word = tokens.iter().enumerate().any(|(i, t)| {
        rule.words.contains(&t.as_str())
            && !(i > 0 && rule.not_before.contains(&tokens[i - 1].as_str()))
            && !at(i + 1).is_some_and(|n| rule.not_after.contains(&n))
    });
    let head = tokens.iter().enumerate().any(|(i, t)| {
        rule.head_words.contains(&t.as_str())
            && !tokens[..i]
                .iter()
                .any(|p| rule.side_markers.contains(&p.as_str()))
    });
    let opening = rule.title_openings.iter().any(|o| {
        starts_with(tokens, o) && !at(o.len()).is_some_and(|n| rule.not_after_opening.contains(&n))
    });
    let phrase = rule
        .title_phrases
        .iter()
        .any(|p| (0..tokens.len()).any(|i| starts_with(&tokens[i..], p)));
    word || head || opening || phrase
}

fn starts_with(tokens: &[String], run: &[&str]) -> bool {
    tokens.len() >= run.len() && tokens.iter().zip(run).all(|(t, r)| t == r)
}

/// Whether the body cue of `rule` occurs in the steps (or ingredients) and the
/// ingredients do not name the word themselves.
fn body_matches(rule: &Rule, ingredients: &[String], steps: &[String]) -> bool {
    let Some(cue) = &rule.body else {
        return false;
    };
    let in_ingredients = ingredients.iter().any(|t| t == cue.word);
    let found = |toks: &[String]| {
        toks.iter().enumerate().any(|(i, t)| {
            if t != cue.word {
                return false;
            }
            let before = |k: usize| i.checked_sub(k).map(|j| toks[j].as_str());
            let after_verb = before(1).is_some_and(|p| cue.verbs.contains(&p))
                || (before(1) == Some("the") && before(2).is_some_and(|p| cue.verbs.contains(&p)));
            let before_next = toks
                .get(i + 1)
                .is_some_and(|n| cue.next.contains(&n.as_str()));
            after_verb || before_next
        })
    };
    if cue.verbs.is_empty() {
        // A compound such as "pizza dough" names the family as an ingredient (a step may
        // only compare: "think of a pizza crust").
        found(ingredients)
    } else {
        !in_ingredients && found(steps)
    }
}

/// A text's title, ingredient and step tokens (see the module docs).
struct TextParts {
    title: Vec<String>,
    ingredients: Vec<String>,
    steps: Vec<String>,
}

impl TextParts {
    fn of(text: &str) -> Self {
        let mut lines = text.lines().skip_while(|l| l.trim().is_empty());
        let title = lines.next().map(title_tokens).unwrap_or_default();
        let (mut ingredients, mut steps) = (Vec::new(), Vec::new());
        let mut in_ingredients = false;
        for line in lines {
            match line.trim() {
                "Ingredients:" => in_ingredients = true,
                "Steps:" => in_ingredients = false,
                l if in_ingredients => ingredients.extend(title_tokens(l)),
                l => steps.extend(title_tokens(l)),
            }
        }
        Self {
            title,
            ingredients,
            steps,
        }
    }
}

/// Every family a text matches (title words and body cues), in [`FAMILIES`] order.
///
/// The text is a recipe as [`Recipe::render`](crate::Recipe::render) writes it, or any
/// text (its first line is then taken as the title, the rest as steps): this is the
/// question "does this (decoded) text read as soup?".
///
/// ```
/// use cllm_corpus::family::{families_of_text, Family};
/// let text = "Manhattan Clam Chowder\n\nIngredients:\n- clams\n\nSteps:\n1. Ladle into bowls.";
/// assert_eq!(families_of_text(text), [Family::Soup]);
/// let text = "Margherita\n\nIngredients:\n- 1 ball pizza dough\n\nSteps:\n1. Bake.";
/// assert_eq!(families_of_text(text), [Family::Pizza]);
/// assert!(families_of_text("Tuna Casserole\n\nIngredients:\n- 1 can mushroom soup\n\nSteps:\n1. Stir the soup into the tuna.").is_empty());
/// ```
pub fn families_of_text(text: &str) -> Vec<Family> {
    let parts = TextParts::of(text);
    FAMILIES
        .into_iter()
        .filter(|f| {
            matches_tokens(*f, &parts.title)
                || body_matches(&f.rule(), &parts.ingredients, &parts.steps)
        })
        .collect()
}

/// The first family a text matches ([`families_of_text`]), if any.
pub fn family_of_text(text: &str) -> Option<Family> {
    families_of_text(text).into_iter().next()
}

/// The family of a recipe title alone: the first of [`FAMILIES`] whose title rule
/// matches, if any (no body cues; see [`family_of_text`]).
///
/// ```
/// use cllm_corpus::{family_of, Family};
/// assert_eq!(family_of("Margherita Pizza in Oven"), Some(Family::Pizza));
/// assert_eq!(family_of("Cream of Mushroom Soup"), Some(Family::Soup));
/// assert_eq!(family_of("A soupçon of Pizzazz"), None);
/// ```
pub fn family_of(title: &str) -> Option<Family> {
    let tokens = title_tokens(title);
    FAMILIES.into_iter().find(|f| matches_tokens(*f, &tokens))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positives() {
        for (t, f) in [
            ("Pizza Dough", Family::Pizza),
            ("Mini English Muffin Pizzas", Family::Pizza),
            ("Pizza-Flavored Omelet", Family::Pizza),
            ("New York City–Style Pizza", Family::Pizza),
            ("Cloud Bread Pizza", Family::Pizza),
            ("Stracciatella Soup", Family::Soup),
            ("SOUPS of the day", Family::Soup),
            ("Pizza Soup", Family::Pizza),
            ("Greek Salad", Family::Salad),
            ("Chicken Curry", Family::Curry),
            ("Spaghetti Carbonara", Family::Pasta),
            ("New York Cheesecake", Family::Cake),
            ("Chocolate Chip Cookies", Family::Cookie),
            ("Banana Bread", Family::Bread),
            ("Bread Salad", Family::Salad),
            ("Chocolate Zucchini Cake", Family::Cake),
            ("Skillet Cornbread", Family::Bread),
            ("Faina (Chickpea Flatbread)", Family::Bread),
            ("Italian Minestrone", Family::Soup),
            ("New England Clam Chowder", Family::Soup),
            ("Lobster Bisque", Family::Soup),
            ("Ukrainian Borscht", Family::Soup),
            ("Chicken Broth with Egg", Family::Soup),
            ("Cream of Asparagus", Family::Soup),
            ("Tom Yum with Tomatoes", Family::Soup),
            ("Spinach Calzones", Family::Pizza),
        ] {
            assert_eq!(family_of(t), Some(f), "{t}");
        }
    }

    #[test]
    fn negatives() {
        for t in [
            "A soupçon of salt",
            "Pizzazz Punch",
            "Pancakes",
            "Blueberry Pancake",
            "Crab Cakes",
            "Fish cakes",
            "Salad Dressing",
            "'Out of Salad Dressing' Salad Dressing",
            "Curry Powder",
            "Bread Pudding",
            "Breadcrumbs",
            "Shortbread",
            "Pasta Sauce",
            "Thai Green Curry Paste",
            "Cheesy Mascarpone Cornbread Stuffing",
            "Gingerbread",
            "Rice Cakes with Hummus",
            "Soupy rice",
            "Onion Soup Mix",
            "Rice in Fish Broth (Sayyadieh)",
            "Boiled Chicken with Broth",
            "Cream of Wheat",
            "Stracciatella Gelato",
            "Chicken Stock",
            "",
        ] {
            assert_eq!(family_of(t), None, "{t}");
        }
    }

    #[test]
    fn tokens() {
        assert_eq!(
            title_tokens("Grandma's Pizza-Pie!"),
            ["grandma", "s", "pizza", "pie"]
        );
    }

    fn recipe(title: &str, ingredients: &[&str], steps: &[&str]) -> String {
        let mut t = format!("{title}\n\nIngredients:\n");
        for i in ingredients {
            t += &format!("- {i}\n");
        }
        t += "\nSteps:\n";
        for (n, s) in steps.iter().enumerate() {
            t += &format!("{}. {s}\n", n + 1);
        }
        t
    }

    #[test]
    fn body_cues_catch_untitled_soups_and_pizzas() {
        let soup = recipe(
            "Ofe Owerri",
            &["2 cups water", "1 kg goat meat"],
            &["Simmer for an hour.", "Serve the soup hot."],
        );
        assert_eq!(families_of_text(&soup), [Family::Soup]);
        let soup = recipe("Supu", &["plantain"], &["Ladle the soup into bowls."]);
        assert_eq!(family_of_text(&soup), Some(Family::Soup));
        let pizza = recipe(
            "Margherita",
            &["1 ball pizza dough", "mozzarella"],
            &["Bake."],
        );
        assert_eq!(families_of_text(&pizza), [Family::Pizza]);
        // both: a pizza soup is in both families, pizza first
        let both = recipe("Pizza Soup", &["tomatoes"], &["Serve."]);
        assert_eq!(families_of_text(&both), [Family::Pizza, Family::Soup]);
        assert_eq!(family_of_text(&both), Some(Family::Pizza));
    }

    #[test]
    fn body_cues_do_not_fire_on_canned_soup_or_side_soups() {
        let casserole = recipe(
            "Tuna Noodle Casserole",
            &["1 can cream of mushroom soup", "noodles"],
            &["Stir the soup into the noodles.", "Bake."],
        );
        assert!(families_of_text(&casserole).is_empty(), "{casserole}");
        let swallow = recipe(
            "Eba",
            &["garri", "water"],
            &["Stir.", "Eat with soup of your choice."],
        );
        assert!(families_of_text(&swallow).is_empty());
        let pie = recipe(
            "Vegetable Pie",
            &["flour"],
            &["Roll it out like a pizza crust."],
        );
        assert!(families_of_text(&pie).is_empty());
    }

    #[test]
    fn any_text_is_read_as_title_and_steps() {
        assert_eq!(
            family_of_text("Hot chowder for a cold night"),
            Some(Family::Soup)
        );
        assert_eq!(
            families_of_text("A note\nthen simmer the soup and serve."),
            [Family::Soup]
        );
        assert!(families_of_text("").is_empty());
        assert!(families_of_text("\n\n").is_empty());
        assert_eq!(family_of_text("\n  \nGreek Salad"), Some(Family::Salad));
    }
}
