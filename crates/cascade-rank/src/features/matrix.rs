//! A dense row-major block of feature values, one row per candidate.

/// Feature values, one row of `columns` values per candidate; a missing value is NaN.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeatureMatrix {
    columns: usize,
    values: Vec<f64>,
}

impl FeatureMatrix {
    /// An empty matrix of `columns` features.
    pub fn new(columns: usize) -> Self {
        Self {
            columns,
            values: Vec::new(),
        }
    }

    /// A matrix over `values` (row-major); `None` unless `values` is whole rows of `columns`.
    pub fn from_values(columns: usize, values: Vec<f64>) -> Option<Self> {
        (columns > 0 && values.len().is_multiple_of(columns)).then_some(Self { columns, values })
    }

    /// Appends one row; it must have `columns` values.
    pub fn push_row(&mut self, row: &[f64]) {
        assert_eq!(row.len(), self.columns, "a row has one value per column");
        self.values.extend_from_slice(row);
    }

    /// Appends every row of `other`, which has the same columns.
    pub fn append(&mut self, other: &FeatureMatrix) {
        assert_eq!(
            other.columns, self.columns,
            "appending rows of another shape"
        );
        self.values.extend_from_slice(&other.values);
    }

    /// How many features each row has.
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// How many rows there are.
    pub fn rows(&self) -> usize {
        self.values.len().checked_div(self.columns).unwrap_or(0)
    }

    /// Row `index`.
    pub fn row(&self, index: usize) -> &[f64] {
        &self.values[index * self.columns..(index + 1) * self.columns]
    }

    /// Every value, row after row.
    pub fn values(&self) -> &[f64] {
        &self.values
    }
}
