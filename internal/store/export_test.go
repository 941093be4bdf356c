package store

// ReusableCheckoutSQL is exported for the plan test.
const ReusableCheckoutSQL = reusableCheckoutSQL
