//! The document rendered as Markdown and as one self-contained HTML page.

use std::fmt::Write as _;

use super::document::Block;

fn md_escape_cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The blocks as Markdown.
pub fn markdown(doc: &[Block]) -> String {
    let mut out = String::new();
    for b in doc {
        match b {
            Block::Heading(level, text) => {
                let _ = writeln!(out, "{} {text}\n", "#".repeat(*level as usize));
            }
            Block::Para(text) => {
                let _ = writeln!(out, "{text}\n");
            }
            Block::List(items) => {
                for i in items {
                    let _ = writeln!(out, "- {i}");
                }
                out.push('\n');
            }
            Block::Table(header, rows) => {
                let _ = writeln!(
                    out,
                    "| {} |",
                    header
                        .iter()
                        .map(|h| md_escape_cell(h))
                        .collect::<Vec<_>>()
                        .join(" | ")
                );
                let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
                for r in rows {
                    let _ = writeln!(
                        out,
                        "| {} |",
                        r.iter()
                            .map(|c| md_escape_cell(c))
                            .collect::<Vec<_>>()
                            .join(" | ")
                    );
                }
                out.push('\n');
            }
            Block::Figures(figs) => {
                for (file, caption) in figs {
                    let _ = writeln!(out, "![{caption}]({file})\n\n*{caption}*\n");
                }
            }
            Block::Code(text) => {
                let _ = writeln!(out, "```sh\n{text}\n```\n");
            }
        }
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Inline code spans (`x`) as <code>.
fn inline(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in esc(s).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#222}\
h1{font-size:1.7rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:1rem 0;font-size:.92rem;display:block;overflow-x:auto;max-width:100%}\
th,td{border:1px solid #ccc;padding:.3rem .55rem;text-align:left;vertical-align:top}th{background:#f3f3f3}\
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(18rem,1fr));gap:1rem;margin:1rem 0}figure{margin:0;min-width:0}figure:only-child{grid-column:1/-1;max-width:52rem}\
figure img{width:100%;height:auto;border:1px solid #e5e5e5;image-rendering:auto}figcaption{font-size:.85rem;color:#555;overflow-wrap:anywhere}\
pre{background:#f6f6f6;padding:.8rem;overflow-x:auto}code{font-size:.9em}";

/// The blocks as one HTML page; `embed` turns an image path into a `src` (a data URI).
pub fn html(title: &str, doc: &[Block], embed: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        esc(title)
    );
    for b in doc {
        match b {
            Block::Heading(level, text) => {
                let _ = writeln!(out, "<h{level}>{}</h{level}>", inline(text));
            }
            Block::Para(text) => {
                let _ = writeln!(out, "<p>{}</p>", inline(text));
            }
            Block::List(items) => {
                out.push_str("<ul>\n");
                for i in items {
                    let _ = writeln!(out, "<li>{}</li>", inline(i));
                }
                out.push_str("</ul>\n");
            }
            Block::Table(header, rows) => {
                out.push_str("<table>\n<thead><tr>");
                for h in header {
                    let _ = write!(out, "<th>{}</th>", inline(h));
                }
                out.push_str("</tr></thead>\n<tbody>\n");
                for r in rows {
                    out.push_str("<tr>");
                    for c in r {
                        let _ = write!(out, "<td>{}</td>", inline(c));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</tbody>\n</table>\n");
            }
            Block::Figures(figs) => {
                out.push_str("<div class=\"figs\">\n");
                for (file, caption) in figs {
                    let src = embed(file).unwrap_or_else(|| esc(file));
                    let _ = writeln!(
                        out,
                        "<figure><img src=\"{src}\" alt=\"{}\"><figcaption>{}</figcaption></figure>",
                        esc(caption),
                        inline(caption)
                    );
                }
                out.push_str("</div>\n");
            }
            Block::Code(text) => {
                let _ = writeln!(out, "<pre><code>{}</code></pre>", esc(text));
            }
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}
