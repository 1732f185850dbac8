/// The JPKI card profile (filled in by the JPKI card library issue).
public enum JPKIPlaceholder {}
