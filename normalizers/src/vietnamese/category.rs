//! Category suggestion (Đ5): which of the five fields, and which sub-category, a description
//! belongs to, from the keywords in `data/vietnamese/categories.json`.

use std::collections::HashMap;

use super::lexicon;
use crate::report::CategoryField;
use crate::text::{strip_marks, Shape};

/// Below this score nothing fits (one single-word keyword is enough: "ngập", "rác").
const MIN_SCORE: f32 = 1.0;

/// The suggested field, the id of the best sub-category (`chieu_sang`, `o_nhiem`… as in
/// `categories.json`) and a confidence in 0..1; `None` when no keyword of any field occurs.
pub fn suggest_category(text: &str) -> Option<(CategoryField, Option<String>, f32)> {
    let lx = lexicon::get();
    let text = crate::text::nfc(text);
    let tokens = crate::text::words(&text);
    let words: Vec<&str> = tokens.iter().map(|t| t.lower.as_str()).collect();
    // Words typed without marks are matched against the unaccented keywords only.
    let bare: Vec<String> = tokens
        .iter()
        .map(|t| {
            if t.lower.is_ascii() && t.shape == Shape::Word {
                strip_marks(&t.lower)
            } else {
                String::from("\u{0}")
            }
        })
        .collect();

    let mut by_sub: HashMap<usize, f32> = HashMap::new();
    let mut i = 0;
    while i < words.len() {
        let hit = lx
            .categories
            .longest_at(&words, i)
            .or_else(|| lx.categories_unaccented.longest_at(&bare, i));
        match hit {
            Some((len, kw)) => {
                *by_sub.entry(kw.subcategory).or_default() += kw.weight;
                i += len;
            }
            None => i += 1,
        }
    }
    let total: f32 = by_sub.values().sum();
    if total < MIN_SCORE {
        return None;
    }
    let mut by_field: HashMap<CategoryField, f32> = HashMap::new();
    for (sub, score) in &by_sub {
        *by_field.entry(lx.subcategories[*sub].field).or_default() += score;
    }
    let (field, field_score) = by_field.into_iter().max_by(|a, b| {
        a.1.total_cmp(&b.1)
            .then_with(|| field_rank(b.0).cmp(&field_rank(a.0)))
    })?;
    let (best_sub, _) = by_sub
        .iter()
        .filter(|(sub, _)| lx.subcategories[**sub].field == field)
        .max_by(|a, b| a.1.total_cmp(b.1).then_with(|| b.0.cmp(a.0)))?;
    // Share of the evidence for this field, damped when the evidence is a single short keyword.
    let share = field_score / total;
    let strength = (field_score / 3.0).min(1.0);
    let confidence = (share * (0.5 + 0.5 * strength)).clamp(0.0, 1.0);
    Some((
        field,
        Some(lx.subcategories[*best_sub].id.clone()),
        confidence,
    ))
}

/// Deterministic order for ties.
fn field_rank(f: CategoryField) -> u8 {
    match f {
        CategoryField::PublicAdministration => 0,
        CategoryField::UrbanOrder => 1,
        CategoryField::Traffic => 2,
        CategoryField::PublicSecurity => 3,
        CategoryField::Environment => 4,
    }
}

/// The Vietnamese name of a field of Đ5 (`Traffic` → "Giao thông").
pub fn field_name(field: CategoryField) -> Option<&'static str> {
    lexicon::get()
        .subcategories
        .iter()
        .find(|s| s.field == field)
        .map(|s| s.field_name.as_str())
}

/// The Vietnamese name of a sub-category id ("chieu_sang" → "Chiếu sáng").
pub fn subcategory_name(id: &str) -> Option<&'static str> {
    lexicon::get()
        .subcategories
        .iter()
        .find(|s| s.id == id)
        .map(|s| s.name.as_str())
}

/// Every sub-category of the lexicon: (field, field name, sub-category id, sub-category name),
/// in the order of `categories.json` (the Open311 service list).
pub fn categories() -> Vec<(CategoryField, &'static str, &'static str, &'static str)> {
    lexicon::get()
        .subcategories
        .iter()
        .map(|s| {
            (
                s.field,
                s.field_name.as_str(),
                s.id.as_str(),
                s.name.as_str(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_field_of_the_regulation() {
        let cases = [
            (
                "Đèn đường trước nhà số 12 bị hỏng ba ngày nay, ban đêm tối om.",
                CategoryField::UrbanOrder,
                "chieu_sang",
            ),
            (
                "Mặt đường có nhiều ổ gà rất nguy hiểm cho xe máy.",
                CategoryField::Traffic,
                "mat_duong",
            ),
            (
                "Có người đổ rác và xà bần xuống kênh, bốc mùi hôi.",
                CategoryField::Environment,
                "rac_thai",
            ),
            (
                "Ghe hút cát trái phép trên sông Vàm Cỏ Đông ban đêm, khai thác cát gây sạt lở.",
                CategoryField::Environment,
                "khoang_san",
            ),
            (
                "Nhóm thanh niên tụ tập đánh nhau, gây rối trật tự.",
                CategoryField::PublicSecurity,
                "an_ninh_trat_tu",
            ),
            (
                "Hồ sơ cấp giấy chứng nhận nộp ở bộ phận một cửa đã trễ hẹn hai tháng.",
                CategoryField::PublicAdministration,
                "thu_tuc_hanh_chinh",
            ),
            (
                "Quán cà phê lấn chiếm vỉa hè, người đi bộ phải xuống lòng đường.",
                CategoryField::UrbanOrder,
                "trat_tu_do_thi",
            ),
            (
                "Đèn tín hiệu ở ngã tư không hoạt động.",
                CategoryField::Traffic,
                "den_tin_hieu",
            ),
        ];
        for (text, field, sub) in cases {
            let (f, s, c) =
                suggest_category(text).unwrap_or_else(|| panic!("no category for {text}"));
            assert_eq!((f, s.as_deref()), (field, Some(sub)), "{text}");
            assert!(c > 0.0 && c <= 1.0);
        }
    }

    #[test]
    fn unaccented_keywords_match_unaccented_text() {
        let (f, s, _) = suggest_category("duong bi ngap nuoc sau con mua").expect("ngập");
        assert_eq!(f, CategoryField::UrbanOrder);
        assert_eq!(s.as_deref(), Some("cap_thoat_nuoc"));
    }

    #[test]
    fn nothing_fits_out_of_scope_text() {
        assert_eq!(
            suggest_category("Tôi muốn hỏi về giá vé xem ca nhạc tối nay."),
            None
        );
        assert_eq!(subcategory_name("chieu_sang"), Some("Chiếu sáng"));
        assert_eq!(field_name(CategoryField::Traffic), Some("Giao thông"));
    }
}
