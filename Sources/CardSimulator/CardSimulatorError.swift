import StableCodes

/// Errors of the card simulator: loading a card profile, locating fixtures, parsing fault specs.
///
/// Every case has a stable ``code``. Messages never contain PINs or identity data: they name
/// files and fields, not values.
public enum CardSimulatorError: Error, CodedError, Sendable, Equatable, CustomStringConvertible {
    /// No `apdu-fixtures/cards` directory could be found (neither `JPKI_FIXTURES` nor a package
    /// root above the source file or the working directory).
    case fixturesNotFound(String)
    /// The named fixture card does not exist.
    case unknownFixture(String)
    /// A file of the card profile is missing or unreadable (the path).
    case fileUnreadable(String)
    /// `profile.json` is not valid (what is wrong, never the values).
    case invalidProfile(String)
    /// A test key could not be loaded (the path).
    case invalidKey(String)
    /// A `--fault` specification is invalid (the offending item and why).
    case invalidFault(item: String, reason: String)
    /// A `--timing` profile name is unknown (the name and the valid ones).
    case invalidTiming(String, reason: String)
    /// A `--behaviour` specification (or a profile's `behaviour`) is invalid (the item and why).
    case invalidBehaviour(item: String, reason: String)

    /// A stable code for logs and APIs.
    public var code: String {
        switch self {
        case .fixturesNotFound: "sim_fixtures_not_found"
        case .unknownFixture: "sim_unknown_fixture"
        case .fileUnreadable: "sim_file_unreadable"
        case .invalidProfile: "sim_invalid_profile"
        case .invalidKey: "sim_invalid_key"
        case .invalidFault: "sim_invalid_fault"
        case .invalidTiming: "sim_invalid_timing"
        case .invalidBehaviour: "sim_invalid_behaviour"
        }
    }

    public var description: String {
        switch self {
        case .fixturesNotFound(let m): "apdu-fixtures not found: \(m)"
        case .unknownFixture(let n): "no fixture card named \"\(n)\""
        case .fileUnreadable(let p): "cannot read card profile file \(p)"
        case .invalidProfile(let m): "invalid card profile: \(m)"
        case .invalidKey(let p): "invalid test key \(p)"
        case .invalidFault(let item, let reason): "invalid fault \"\(item)\": \(reason)"
        case .invalidTiming(let name, let reason): "invalid timing profile \"\(name)\": \(reason)"
        case .invalidBehaviour(let item, let reason): "invalid behaviour \"\(item)\": \(reason)"
        }
    }
}
