//! Recipe families from titles.
//!
//! A title is split into lowercase word tokens (maximal runs of alphanumeric
//! characters; everything else, including hyphens and apostrophes, separates). A family
//! matches when one of its words is a whole token, unless the token next to it marks a
//! different dish (e.g. "salad *dressing*", "*fish* cakes"). Whole tokens mean
//! "soupçon", "Pizzazz" or "pancake" never match. When several families match, the
//! first in [`FAMILIES`] order wins.
//!
//! | family | words | not when |
//! |---|---|---|
//! | pizza | pizza, pizzas | — |
//! | soup | soup, soups | — |
//! | salad | salad, salads | followed by dressing(s) |
//! | curry | curry, curries | followed by powder, paste, sauce, leaf, leaves, oil, ketchup |
//! | pasta | pasta, pastas, spaghetti, lasagna, lasagne, macaroni, penne, fettuccine, fettuccini, linguine, rigatoni, tagliatelle, ravioli, tortellini, fusilli, farfalle, orzo | followed by sauce |
//! | cake | cake, cakes, cheesecake(s), cupcake(s) | preceded by fish, crab, potato, rice, salmon, tuna, shrimp, oat, pan |
//! | cookie | cookie, cookies | — |
//! | bread | bread, breads, cornbread, flatbread(s) | followed by pudding, crumb(s), sauce, stuffing, dressing |

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

struct Rule {
    words: &'static [&'static str],
    not_before: &'static [&'static str],
    not_after: &'static [&'static str],
}

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
                words: &["pizza", "pizzas"],
                not_before: &[],
                not_after: &[],
            },
            Family::Soup => Rule {
                words: &["soup", "soups"],
                not_before: &[],
                not_after: &[],
            },
            Family::Salad => Rule {
                words: &["salad", "salads"],
                not_before: &[],
                not_after: &["dressing", "dressings"],
            },
            Family::Curry => Rule {
                words: &["curry", "curries"],
                not_before: &[],
                not_after: &[
                    "powder", "paste", "sauce", "leaf", "leaves", "oil", "ketchup",
                ],
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
                not_before: &[],
                not_after: &["sauce"],
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
                not_after: &[],
            },
            Family::Cookie => Rule {
                words: &["cookie", "cookies"],
                not_before: &[],
                not_after: &[],
            },
            Family::Bread => Rule {
                words: &["bread", "breads", "cornbread", "flatbread", "flatbreads"],
                not_before: &[],
                not_after: &[
                    "pudding", "crumb", "crumbs", "sauce", "stuffing", "dressing",
                ],
            },
        }
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
    tokens.iter().enumerate().any(|(i, t)| {
        rule.words.contains(&t.as_str())
            && !(i > 0 && rule.not_before.contains(&tokens[i - 1].as_str()))
            && !tokens
                .get(i + 1)
                .is_some_and(|n| rule.not_after.contains(&n.as_str()))
    })
}

/// The family of a recipe title: the first of [`FAMILIES`] whose rule matches, if any.
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
}
