//! Messages about the place of the incident (LOCATION_MISSING, LOCATION_OUTSIDE) that say
//! precisely what is missing.

/// An address was given but names no commune, ward or district of the Long An area.
pub const LOCATION_UNMATCHED: &str =
    "Chưa xác định được địa điểm từ địa chỉ đã ghi: không thấy tên xã, phường (hoặc huyện, thị xã, thành phố cũ) thuộc khu vực Long An. Vui lòng ghi rõ ấp hoặc khu phố và xã, phường (ví dụ \"ấp 3, xã Mỹ Yên\" hoặc \"Phường 1, thành phố Tân An\"), hoặc chia sẻ vị trí trên bản đồ.";

/// The address names a place that exists several times in the area ("Phường 1").
pub fn location_ambiguous(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    format!(
        "Địa chỉ có tên {} trùng với nhiều nơi trong khu vực Long An. Vui lòng ghi thêm tên huyện, thị xã, thành phố (cũ) hoặc tên xã, phường mới, hoặc chia sẻ vị trí trên bản đồ.",
        quoted.join(", ")
    )
}

/// The coordinates read from a photo lie outside the area.
pub const LOCATION_OUTSIDE_PHOTO: &str =
    "Vị trí ghi trong ảnh hoặc video đính kèm nằm ngoài địa bàn khu vực Long An. Hệ thống 1022 chỉ tiếp nhận phản ánh trên địa bàn: vui lòng kiểm tra lại nơi chụp hoặc ghi rõ địa chỉ xảy ra sự việc.";

/// The address names a place outside the area (another province, a district of the former Tây
/// Ninh province); `place` is its full name ("tỉnh Tiền Giang (nay thuộc tỉnh Đồng Tháp)").
pub fn location_outside_address(place: &str) -> String {
    format!(
        "Địa chỉ đã ghi thuộc {place}, nằm ngoài địa bàn khu vực Long An mà Hệ thống 1022 tiếp nhận. Nếu sự việc xảy ra tại đó, vui lòng phản ánh đến cơ quan của địa phương nơi xảy ra sự việc; nếu ghi nhầm, vui lòng sửa lại địa chỉ (ví dụ \"ấp 3, xã Mỹ Yên\") hoặc chia sẻ vị trí trên bản đồ."
    )
}
