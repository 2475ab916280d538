import { createExactVectorIndex } from "../../../services/glm/vector/exact-index.ts";
import { vectorIndexContract } from "./vector-index-contract.ts";

vectorIndexContract("exact", async (dimension) => createExactVectorIndex({ dimension, initialCapacity: 4 }), { exact: true });
