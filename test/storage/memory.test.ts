// The in-memory reference store passes the enrollments part of the shared storage suite.
import { MemoryEnrollmentStore } from "../../runtime/memory-store.ts";
import { describeWith, enrollmentTransactionCases } from "./storage.suite.ts";

describeWith("MemoryEnrollmentStore", async () => ({ enrollments: new MemoryEnrollmentStore(), close: async () => {} }), enrollmentTransactionCases);
