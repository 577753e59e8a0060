//! The tab-separated tables of `data/geo/`: a header row, then one row a line; columns are
//! looked up by name so that a replacement file may order or add columns freely.

use super::GeoError;

/// A tab-separated file with a header row, columns looked up by name.
pub(super) struct Tsv<'a> {
    pub file: &'static str,
    header: Vec<&'a str>,
    /// (line number, cells).
    pub rows: Vec<(usize, Vec<&'a str>)>,
}

impl<'a> Tsv<'a> {
    pub fn parse(file: &'static str, text: &'a str) -> Result<Self, GeoError> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let (_, header) = lines.next().ok_or(GeoError::Empty { file })?;
        let header: Vec<&str> = header.trim_start_matches('\u{feff}').split('\t').collect();
        let rows = lines
            .map(|(i, l)| (i + 1, l.trim_end_matches('\r').split('\t').collect()))
            .collect();
        Ok(Tsv { file, header, rows })
    }

    pub fn column(&self, name: &'static str) -> Result<usize, GeoError> {
        self.header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or(GeoError::MissingColumn {
                file: self.file,
                column: name,
            })
    }

    pub fn cell(&self, line: usize, row: &[&'a str], col: usize) -> Result<&'a str, GeoError> {
        row.get(col).map(|c| c.trim()).ok_or(GeoError::BadRow {
            file: self.file,
            line,
        })
    }
}
