// import-error-node: the Handler names module 'function' but the code is in index.js, so init
// fails with Runtime.ImportModuleError: "Error: Cannot find module 'function'\nRequire stack:\n- ...".
exports.handler = async (event) => event;
