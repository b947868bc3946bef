/** The package version, kept in step with package.json by a test (the one-file binary has no package.json to read). */
export const EMS_VERSION = "0.1.0";
