// The in-memory reference stores pass their parts of the shared storage suite: the enrollments
// role, and the OAuth role a server host without a database uses.
import { MemoryEnrollmentStore } from "../../runtime/memory-store.ts";
import { MemoryOAuthStore } from "../../runtime/storage/memory-oauth-store.ts";
import { describeWith, enrollmentTransactionCases, oauthCases } from "./storage.suite.ts";

describeWith("MemoryEnrollmentStore", async () => ({ enrollments: new MemoryEnrollmentStore(), close: async () => {} }), enrollmentTransactionCases);
describeWith("MemoryOAuthStore", async () => ({ oauth: new MemoryOAuthStore(), close: async () => {} }), oauthCases);
